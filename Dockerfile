# Duet, CPU image. Build: docker build -t duet:cpu .   (see docs/cloud.md)
# Dependencies are installed from deno.lock at build time (--frozen); at run time the pipeline
# runs with --cached-only, so a container never fetches code.
FROM denoland/deno:debian-2.9.6

# onnxruntime-node bundles its CPU binaries; its install script would download CUDA files.
ENV ONNXRUNTIME_NODE_INSTALL=skip \
    DENO_NO_UPDATE_CHECK=1 \
    DENO_NO_PROMPT=1

WORKDIR /app

# Dependency layer first: rebuilt only when deno.json or deno.lock change.
COPY deno.json deno.lock ./
RUN deno install --frozen

COPY . .
# Re-run for local (file) imports, then compile the entry point's module graph into the cache.
RUN deno install --frozen \
 && deno cache --frozen pipeline/main.ts \
 && mkdir -p /app/.duet && chown -R deno:deno /app/.duet /deno-dir

# The base image's unprivileged user (uid 1993).
USER deno

# Schedulers stop containers with SIGTERM; the train stage checkpoints and exits 143.
STOPSIGNAL SIGTERM

# `deno task pipeline` with --cached-only: arguments are the CLI's, e.g. `stage train --run-id R`.
ENTRYPOINT ["deno", "run", "-A", "--cached-only", "--frozen", "--quiet", "pipeline/main.ts"]
CMD ["--help"]
