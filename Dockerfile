# One image for every Vivres service; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
# Editable install: the code reads schemas/ beside services/.
COPY services ./services
COPY schemas ./schemas
# The directories docker-compose.yml mounts volumes on, owned by the user the services run as
# (a new named volume takes the owner of the directory it is mounted on).
RUN pip install --no-cache-dir -c constraints.txt -e . \
 && useradd --system --uid 10001 vivres \
 && mkdir -p /app/.vivres /var/lib/vivres/demand \
 && chown vivres /app/.vivres /var/lib/vivres/demand
USER vivres
ENV PYTHONUNBUFFERED=1
CMD ["vivres", "--help"]
