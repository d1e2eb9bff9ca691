"""Container images and Kubernetes manifests: render (kustomize + overrides) and validate offline."""
