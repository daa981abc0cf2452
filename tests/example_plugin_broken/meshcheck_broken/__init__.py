"""A plugin whose import fails, as a plugin with a missing dependency does in the field."""

raise ImportError("meshcheck-broken needs the module 'acme_internal_sdk', which is not installed")
