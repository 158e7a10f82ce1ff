"""What people read in the CLI: French first, English second (VIVRES_LANG=en).

Code, logs and API fields stay English; only these sentences are translated.
"""

from __future__ import annotations

import os

CATALOG: dict[str, dict[str, str]] = {
    "schemas.ok": {
        "fr": "Schémas conformes : {count} schémas, compatibles avec toutes leurs versions.",
        "en": "Schemas OK: {count} schemas, compatible with all their versions.",
    },
    "schemas.problems": {
        "fr": "{count} problème(s) dans les schémas :",
        "en": "{count} schema problem(s):",
    },
    "schemas.frozen": {
        "fr": "Version enregistrée : {path}",
        "en": "Version recorded: {path}",
    },
    "schemas.nothing_to_freeze": {
        "fr": "Rien à enregistrer : chaque schéma est déjà sa dernière version.",
        "en": "Nothing to record: every schema already is its newest version.",
    },
    "schemas.refuse_freeze": {
        "fr": "Enregistrement refusé tant que les schémas ne sont pas compatibles.",
        "en": "Not recording while the schemas are incompatible.",
    },
    "topics.created": {"fr": "Topic créé : {name}", "en": "Topic created: {name}"},
    "topics.drift": {"fr": "Écart au catalogue : {what}", "en": "Drift from the catalog: {what}"},
    "topics.subject": {
        "fr": "Schéma {subject} enregistré (id {id})",
        "en": "Schema {subject} registered (id {id})",
    },
    "topics.ok": {
        "fr": "Topics conformes au catalogue ({count} topics et leurs files de rejets).",
        "en": "Topics match the catalog ({count} topics and their dead-letter topics).",
    },
    "dlq.empty": {"fr": "Aucun rejet dans {topic}.", "en": "No dead letters in {topic}."},
    "dlq.replayed": {
        "fr": "{count} rejet(s) renvoyé(s) vers leur topic d'origine.",
        "en": "{count} dead letter(s) sent back to their original topic.",
    },
    "dlq.replaying": {"fr": "Renvoi des rejets", "en": "Replaying dead letters"},
    "unreachable": {
        "fr": "Impossible de joindre {what} : {error}",
        "en": "Cannot reach {what}: {error}",
    },
}


def language() -> str:
    lang = os.environ.get("VIVRES_LANG", "fr").split("_")[0].lower()
    return lang if lang in ("fr", "en") else "fr"


def t(key: str, **values: object) -> str:
    """The message `key` in the reader's language, French when unsure."""
    entry = CATALOG[key]
    return entry.get(language(), entry["fr"]).format(**values)
