# The lab's node image: every role (customer and Scaleway routers, partner, hosts) runs it.
# Built by `make images` (lab/dataplane/docker/images.py) on a base imported from debootstrap:
# no registry is needed. ExaBGP comes as a wheel prepared on the host (pip has no trust store
# inside the build).
ARG BASE
FROM ${BASE}
ARG PACKAGES
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${PACKAGES} \
 && rm -rf /var/lib/apt/lists/*
COPY wheels /tmp/wheels
RUN pip3 install --break-system-packages --no-index --no-deps /tmp/wheels/*.whl \
 && rm -rf /tmp/wheels
CMD ["sleep", "infinity"]
