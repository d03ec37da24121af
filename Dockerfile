# The Covenant services image: the package and its hash-locked dependencies.
FROM python:3.11-slim
WORKDIR /app
COPY requirements/dev.lock requirements/dev.lock
RUN pip install --no-cache-dir --require-hashes -r requirements/dev.lock
COPY . .
RUN pip install --no-cache-dir --no-deps --no-build-isolation . && useradd -r covenant
USER covenant
ENTRYPOINT []
