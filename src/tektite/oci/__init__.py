"""A small OCI distribution client: image references, registry auth, manifests and blobs."""
