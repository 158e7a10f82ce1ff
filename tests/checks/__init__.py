"""The deploy files against the real validators their users' tools run: compose-go for
docker-compose.yml (built from Go by `make compose-check`) and the Kubernetes and Strimzi schemas
for deploy/k8s (fetched once by `make kube-schemas`). No broker; a toolchain and downloads, which is
why they are not in the unit tier (`make test-checks`)."""
