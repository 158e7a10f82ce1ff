"""Data Food Consortium (DFC) interop: Vivres events as DFC JSON-LD, and a producer's DFC
catalog as Vivres offers. docs/dfc.md says what maps to what.

- `terms`: namespaces, the mapping tables, the `vivres:` extension;
- `jsonld`: PyLD with a document loader that serves only the shipped context (`context/`);
- `export`: catalog, offers, pooled orders, demand signals → JSON-LD dicts;
- `importer`: a DFC catalog → OfferDeclared events (or refusals saying why, in French too);
- `vocab`: the extension vocabulary as a document.

Pure functions: the gateway's routes (docs/dfc.md, "Routes (English)") read the tables and publish.
"""
