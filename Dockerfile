# The Covenant service image: the package and its runtime dependencies only, every one
# pinned and hash-checked from requirements/runtime.lock (scripts/lock.sh writes it at
# the versions the test suite ran on). No test or lint tool is in it, and no build tool:
# the wheel is built in a stage of its own and only the wheel is carried over.
#
# The base is pinned by tag; pin it by digest (python:3.11-slim@sha256:…) in your
# registry — this file was written on a machine that cannot reach one to read it.

FROM python:3.11-slim AS wheel
WORKDIR /src
COPY requirements/build.lock requirements/build.lock
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements/build.lock
COPY pyproject.toml README.md LICENSE NOTICE ./
COPY src src
COPY schemas schemas
COPY examples/digits examples/digits
RUN pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /dist .

FROM python:3.11-slim
# One home for everything Covenant writes (the runs of the local executor, the model
# servers' files, caches): with a read-only root file system it is the only writable
# place besides /tmp, and a volume belongs there.
ENV COVENANT_HOME=/var/lib/covenant \
    HOME=/var/lib/covenant \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY requirements/runtime.lock /tmp/runtime.lock
RUN pip install --no-cache-dir --disable-pip-version-check --require-hashes --no-deps \
        -r /tmp/runtime.lock \
    && rm /tmp/runtime.lock
COPY --from=wheel /dist /tmp/dist
RUN pip install --no-cache-dir --disable-pip-version-check --no-deps /tmp/dist/*.whl \
    && rm -r /tmp/dist \
    && groupadd --system --gid 10001 covenant \
    && useradd --system --uid 10001 --gid covenant --home-dir /var/lib/covenant \
        --shell /usr/sbin/nologin covenant \
    && install -d -o covenant -g covenant -m 0750 /var/lib/covenant
# A numeric user, so Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 10001:10001
WORKDIR /var/lib/covenant
# 8750 the gateway, 8090 the serving router, 9108 metrics (covenant up --metrics-port).
EXPOSE 8750 8090 9108
ENTRYPOINT []
CMD ["covenant", "up", "--metrics-port", "9108"]
