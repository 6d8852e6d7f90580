# One image for the code location, the webserver and the daemon (docker-compose.yml).
FROM python:3.11-slim
WORKDIR /opt/fer_platform
COPY pyproject.toml README.md ./
COPY fer_platform ./fer_platform
# Plain torch/torchvision from PyPI (CUDA builds that also run on CPU), like bin/setup.
# Editable, so the package sits beside pyproject.toml: load_from_defs_folder reads [tool.dg] from it.
RUN pip install --no-cache-dir -e .
# The instance settings (storage on dagster-db, run queue, pools, retries) in DAGSTER_HOME.
COPY dagster.yaml /opt/dagster/home/dagster.yaml
ENV DAGSTER_HOME=/opt/dagster/home
EXPOSE 3000 4000
