"""Go's ``encoding/json`` for Tekton's and Kubernetes' API types: what a Go program (Tekton
Chains, the Pipelines controller, tkn) marshals a value to - omitempty, nil versus empty, Go
durations and times, struct field order (:mod:`.goschema`, with the types in :mod:`.k8stypes` and
:mod:`.tektontypes`). Chains' formatters and trusted resources' signatures are made of it."""
