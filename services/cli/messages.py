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
    "import.row_error": {"fr": "ligne {line} : {message}", "en": "line {line}: {message}"},
    "import.refused": {
        "fr": "ticket {ticket} refusé par la passerelle : {message}",
        "en": "ticket {ticket} refused by the gateway: {message}",
    },
    "import.summary": {
        "fr": "{tickets} ticket(s) importé(s) sur {rows} ligne(s) lues ; {errors} erreur(s).",
        "en": "{tickets} ticket(s) imported from {rows} row(s); {errors} error(s).",
    },
    "import.progress": {"fr": "Envoi des tickets", "en": "Sending tickets"},
    "import.gateway": {"fr": "La passerelle a refusé l'envoi : {error}",
                       "en": "The gateway refused the upload: {error}"},
    "import.no_token": {
        "fr": "Aucun jeton pour l'épicerie {shop} : donnez --token ou VIVRES_TOKEN.",
        "en": "No token for shop {shop}: pass --token or set VIVRES_TOKEN.",
    },
    "tokens.issued": {
        "fr": "Jeton créé (rôle {role}, pour {subject}). Il ne sera plus jamais affiché :",
        "en": "Token issued (role {role}, for {subject}). It will never be shown again:",
    },
    "tokens.revoked": {"fr": "Jeton révoqué.", "en": "Token revoked."},
    "tokens.unknown": {"fr": "Jeton inconnu.", "en": "Unknown token."},
    "catalog.none_unmapped": {
        "fr": "Tous les codes vendus par {shop} ont une correspondance au catalogue.",
        "en": "Every code sold by {shop} is mapped to the catalog.",
    },
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
