# The builder base: Debian 13 with a JDK (for javac, jlink and the validator's AOT cache) and Maven.
# Made by docker/bases/build.sh from the Debian image it bootstraps; online users may instead give the app
# Dockerfiles any public JDK 25 + Maven image (docker/README.md).
ARG DEBIAN_IMAGE=aurigraph/debian:trixie
FROM ${DEBIAN_IMAGE}
ARG JDK_PACKAGE=openjdk-25-jdk-headless
# Certificate authorities the build host trusts beyond Debian's (a TLS-inspecting proxy's, say), so that Maven
# reaches its repositories from here as it does from the host; the runtime base never gets them.
COPY extra-ca/ /usr/local/share/ca-certificates/
# Versions are pinned by packages.lock, which build.sh checks after the build (DL3008 wants them here).
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       "${JDK_PACKAGE}" maven ca-certificates ca-certificates-java binutils \
    && update-ca-certificates \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb \
    && ln -s "$(dirname "$(dirname "$(readlink -f /usr/bin/javac)")")" /opt/jdk
ENV JAVA_HOME=/opt/jdk
LABEL org.opencontainers.image.title="aurigraph builder base" \
      org.opencontainers.image.description="Debian 13, a JDK and Maven: the build stage of the Aurigraph images"
