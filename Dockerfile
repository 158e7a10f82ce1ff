# One image for every Vivres service; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
# Editable install: the code reads schemas/ beside services/.
COPY services ./services
COPY schemas ./schemas
RUN pip install --no-cache-dir -c constraints.txt -e . \
 && useradd --system --uid 10001 vivres
USER vivres
ENV PYTHONUNBUFFERED=1
CMD ["vivres", "--help"]
