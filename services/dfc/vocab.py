"""The Vivres extension vocabulary (`vivres:`) as an RDFS document, for `GET /v1/dfc/ns`. Pure.

The w3id.org redirect of the namespace (terms.VIVRES) is to point at this route (docs/dfc.md,
"L'extension vivres:").
"""

from __future__ import annotations

from typing import Any

from services.dfc.terms import VIVRES, VIVRES_TERMS, XSD

RDFS = "http://www.w3.org/2000/01/rdf-schema#"
OWL = "http://www.w3.org/2002/07/owl#"


def vocabulary_document() -> dict[str, Any]:
    """Each extension term with its kind and its French and English labels."""
    nodes: list[dict[str, Any]] = [{
        "@id": VIVRES.rstrip("#"), "@type": f"{OWL}Ontology",
        f"{RDFS}label": [{"@value": "Extension Vivres du standard DFC", "@language": "fr"},
                         {"@value": "Vivres extension of the DFC standard", "@language": "en"}],
        f"{RDFS}seeAlso": {"@id": "https://w3id.org/dfc/ontology/context/context_1.16.0.json"},
    }]
    for term, (kind, fr, en) in VIVRES_TERMS.items():
        if kind == "class":
            kind_iri = f"{OWL}Class"
        elif kind == "iri":
            kind_iri = f"{OWL}ObjectProperty"
        else:
            kind_iri = f"{OWL}DatatypeProperty"
        node: dict[str, Any] = {
            "@id": VIVRES + term, "@type": kind_iri,
            f"{RDFS}label": [{"@value": fr, "@language": "fr"}, {"@value": en, "@language": "en"}],
        }
        if kind not in ("class", "iri"):
            node[f"{RDFS}range"] = {"@id": XSD + kind}
        nodes.append(node)
    return {"@graph": nodes}

