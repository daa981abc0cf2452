"""meshcheck-team: every meshed workload says which team runs it (the README's walkthrough plugin)."""

from kubectl_meshcheck import Applicability, Diagnostic, Fix, FixAvailability, Topic, hookimpl, rule
from kubectl_meshcheck import pin_pod_template, pod_metadata_ops


@rule(code="TEAM101", name="team-label-missing", topic=Topic.ORG, targets={"Workload"},
      summary="a meshed workload's pods carry no team label", fix=FixAvailability.SOMETIMES)
def team_label_missing(wl, ctx):
    """What it checks: the pod template of every meshed workload has a ``team`` label.

    What Istio does: nothing; the on-call rota routes Istio alerts (5xx rates, circuit breakers) by
    the ``team`` label of the pods in the metrics.

    Example: a Deployment in namespace ``shop`` whose pods have only ``app: cart``.

    Fixes: copy the namespace's ``team`` label onto the pods (when the namespace has one).

    References: https://wiki.example.com/platform/labels
    """
    if "team" in wl.pod_labels:
        return
    ns = ctx.get("Namespace", None, wl.namespace)
    team = ns.labels.get("team") if ns is not None else None
    fixes = ()
    if team:
        ops = (*pin_pod_template(wl), *pod_metadata_ops(wl, "labels", "team", team))
        fixes = (Fix(f"Label the pods team={team}, as namespace {wl.namespace} is", Applicability.SAFE,
                     wl.ref, ops),)
    yield Diagnostic(f"{wl.template_path}/metadata/labels", "the pods carry no team label, so alerts "
                     "about them page nobody", {"namespaceTeam": team}, fixes=fixes)


@hookimpl
def meshcheck_register_rules(register):
    register(team_label_missing)
