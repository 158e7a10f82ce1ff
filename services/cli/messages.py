"""What people read in the CLI: French first, English second (VIVRES_LANG=en).

Code, logs and API fields stay English; only these sentences are translated.
"""

from __future__ import annotations

from typing import Any

from services.bus.settings import ShellSettings

CATALOG: dict[str, dict[str, Any]] = {
    "catalog.mapped": {
        "fr": "Code {code} de l'épicerie {shop} : {product}.",
        "en": "Code {code} of shop {shop}: {product}.",
    },
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
    "asyncapi.written": {"fr": "Écrit : {path}", "en": "Written: {path}"},
    "asyncapi.up_to_date": {"fr": "{path} est à jour.", "en": "{path} is up to date."},
    "asyncapi.stale": {
        "fr": "{path} n'est plus à jour : lancez `vivres asyncapi`.",
        "en": "{path} is out of date: run `vivres asyncapi`.",
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
    "tokens.one_subject": {
        "fr": "Un jeton est pour une seule entrée : --shop, --producer, --hub ou --caisse.",
        "en": "A token is for one entry: --shop, --producer, --hub or --caisse.",
    },
    "tokens.none": {"fr": "Aucun jeton pour « {subject} ».", "en": "No token for '{subject}'."},
    "tokens.headings": {"fr": ("empreinte", "rôle", "pour", "délivré le", "révoqué"),
                        "en": ("digest", "role", "label", "issued", "revoked")},
    "tokens.revoke_which": {
        "fr": "Donnez soit le jeton, soit --subject (tous les jetons d'une entrée).",
        "en": "Give either the token or --subject (all of one entry's tokens).",
    },
    "tokens.revoked_subject": {
        "fr": "{count} jeton(s) de « {subject} » révoqué(s).",
        "en": "{count} token(s) of '{subject}' revoked.",
    },
    "directory.no_token": {
        "fr": "Donnez un jeton d'opérateur ou du pôle : --token ou VIVRES_TOKEN.",
        "en": "Give an operator's or the hub's token: --token or VIVRES_TOKEN.",
    },
    "directory.unreachable": {
        "fr": "La passerelle {url} ne répond pas ({error}) : vérifiez l'adresse (--url).",
        "en": "The gateway {url} does not answer ({error}): check the address (--url).",
    },
    "directory.unauthorised": {
        "fr": "Jeton refusé par la passerelle (inconnu ou révoqué).",
        "en": "The gateway refused the token (unknown or revoked).",
    },
    "directory.refused": {
        "fr": "La passerelle a refusé ({status}) : {detail}",
        "en": "The gateway refused ({status}): {detail}",
    },
    "directory.outside_france": {
        "fr": "Cet emplacement n'est pas en France : vérifiez la latitude et la longitude "
              "(en degrés, par exemple 45.764043 et 4.835659, sans les inverser).",
        "en": "This location is not in France: check the latitude and longitude (degrees, "
              "e.g. 45.764043 and 4.835659, not swapped).",
    },
    "directory.invalid": {"fr": "{where} : {msg}", "en": "{where}: {msg}"},
    "directory.required": {"fr": "{help} (obligatoire)", "en": "{help} (required)"},
    "directory.where.column": {"fr": "colonne {column}", "en": "column {column}"},
    "directory.field.missing": {"fr": "{where} : valeur manquante.",
                                "en": "{where}: value missing."},
    "directory.field.day": {
        "fr": "{where} : « {value} » n'est pas un jour (1 lundi … 7 dimanche, lun, mardi, 1-5).",
        "en": "{where}: '{value}' is not a day (1 Monday ... 7 Sunday, lun, mardi, 1-5).",
    },
    "directory.field.degrees": {
        "fr": "{where} : « {value} » n'est pas une coordonnée en degrés (45.764043).",
        "en": "{where}: '{value}' is not a coordinate in degrees (45.764043).",
    },
    "directory.field.yes_no": {"fr": "{where} : « {value} » : répondez oui ou non.",
                               "en": "{where}: '{value}': answer oui or non."},
    "directory.field.shop_kind": {"fr": "{where} : « {value} » : sociale ou solidaire.",
                                  "en": "{where}: '{value}': sociale or solidaire."},
    "directory.csv.missing_columns": {
        "fr": "colonne(s) manquante(s) dans l'en-tête : {columns}.",
        "en": "column(s) missing from the header: {columns}.",
    },
    "directory.csv.unknown_columns": {
        "fr": "colonne(s) inconnue(s) : {columns} (colonnes possibles : {known}).",
        "en": "unknown column(s): {columns} (possible columns: {known}).",
    },
    "directory.csv.unknown_type": {
        "fr": "type « {value} » inconnu : territoire, pole, epicerie ou producteur.",
        "en": "unknown type '{value}': territoire, pole, epicerie or producteur.",
    },
    "directory.csv.repeated": {
        "fr": "l'identifiant « {id} » est déjà celui de la ligne {first}.",
        "en": "the id '{id}' is already that of line {first}.",
    },
    "directory.kind.territory": {"fr": "territoire", "en": "territory"},
    "directory.kind.shop": {"fr": "épicerie", "en": "shop"},
    "directory.kind.producer": {"fr": "producteur", "en": "producer"},
    "directory.kind.hub": {"fr": "pôle logistique", "en": "logistics hub"},
    "directory.help.group": {"fr": "Annuaire : {what}.", "en": "Directory: {what}."},
    "directory.help.add": {"fr": "Ajoute une entrée à l'annuaire ({what}) ; la même à "
                                 "nouveau ne change rien.",
                           "en": "Add a {what} to the directory (the same again changes "
                                 "nothing)."},
    "directory.help.update": {"fr": "Corrige une entrée ({what}) : seules les options "
                                    "données changent.",
                              "en": "Correct a {what}: only the options given change."},
    "directory.help.close": {"fr": "Ferme une entrée ({what}) : elle garde son identifiant "
                                   "et son historique.",
                             "en": "Close a {what}: it keeps its id and history."},
    "directory.help.list": {"fr": "Liste les entrées ({what}).", "en": "List the {what}s."},
    "directory.created": {"fr": "Ajout enregistré : {what} « {id} ».",
                          "en": "Added: {what} '{id}'."},
    "directory.unchanged": {"fr": "Déjà à jour : {what} « {id} » (rien n'a changé).",
                            "en": "Already up to date: {what} '{id}' (nothing changed)."},
    "directory.updated": {"fr": "Modification enregistrée : {what} « {id} ».",
                          "en": "Corrected: {what} '{id}'."},
    "directory.closed": {"fr": "Fermeture enregistrée : {what} « {id} » ; son identifiant et "
                               "son historique restent.",
                         "en": "Closed: {what} '{id}'; its id and history remain."},
    "directory.nothing_to_change": {"fr": "Rien à modifier : donnez au moins une option.",
                                    "en": "Nothing to correct: give at least one option."},
    "directory.none": {"fr": "Aucune entrée ({what}).", "en": "No {what}."},
    "directory.days": {"fr": ("lun", "mar", "mer", "jeu", "ven", "sam", "dim"),
                       "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")},
    "directory.yes_no": {"fr": ("oui", "non"), "en": ("yes", "no")},
    "directory.headings.territory": {"fr": ("id", "nom", "fuseau", "caisse"),
                                     "en": ("id", "name", "timezone", "caisse")},
    "directory.headings.shop": {"fr": ("id", "nom", "territoire", "type", "commune", "jours"),
                                "en": ("id", "name", "territory", "kind", "commune", "days")},
    "directory.headings.producer": {
        "fr": ("id", "ferme", "commune", "bio", "territoires", "labels", "lat, lon"),
        "en": ("id", "farm", "commune", "organic", "territories", "labels", "lat, lon"),
    },
    "directory.headings.hub": {
        "fr": ("id", "nom", "territoire", "livraisons", "lat, lon"),
        "en": ("id", "name", "territory", "deliveries", "lat, lon"),
    },
    "directory.closed_heading": {"fr": "fermé le", "en": "closed on"},
    "directory.progress": {"fr": "Envoi de l'annuaire", "en": "Sending the directory"},
    "directory.line": {"fr": "ligne {line} : {message}", "en": "line {line}: {message}"},
    "directory.import.hint_update": {
        "fr": "Pour appliquer le fichier aux entrées qui existent avec d'autres valeurs, "
              "relancez avec --mettre-a-jour.",
        "en": "To apply the file to entries that exist with other values, run again with "
              "--mettre-a-jour.",
    },
    "directory.import.summary": {
        "fr": "{created} ajoutée(s), {updated} modifiée(s), {unchanged} déjà à jour, "
              "{refused} ligne(s) refusée(s) sur {rows} ligne(s) lues.",
        "en": "{created} added, {updated} corrected, {unchanged} already up to date, "
              "{refused} row(s) refused of {rows} row(s) read.",
    },
    "catalog.none_unmapped": {
        "fr": "Tous les codes vendus par {shop} ont une correspondance au catalogue.",
        "en": "Every code sold by {shop} is mapped to the catalog.",
    },
"simulate.speed.invalid": {
        "fr": "« {value} » : donnez fast ou un facteur positif (1 = temps réel, "
              "60 = 60× plus vite).",
        "en": "'{value}': give fast or a positive factor (1 = real time, 60 = 60× faster).",
    },
    "simulate.tokens.missing_file": {
        "fr": "Fichier de jetons illisible : {path} ({error}). Créez les jetons des épiceries "
              "(vivres tokens issue --role shop --shop <id>) ou donnez --tokens.",
        "en": "Cannot read the token file {path} ({error}). Issue the shops' tokens "
              "(vivres tokens issue --role shop --shop <id>) or pass --tokens.",
    },
    "simulate.tokens.none": {
        "fr": "Aucun jeton dans {path} pour les épiceries simulées.",
        "en": "No token in {path} for the simulated shops.",
    },
    "simulate.tokens.skipped": {
        "fr": "Pas de jeton pour {count} épicerie(s), leurs tickets ne seront pas envoyés : "
              "{shops}",
        "en": "No token for {count} shop(s), their tickets will not be sent: {shops}",
    },
    "simulate.window": {
        "fr": "Attention : la passerelle refuse les tickets futurs ou de plus de {days} jours ; "
              "la période {first} → {last} en contient.",
        "en": "Warning: the gateway refuses tickets in the future or older than {days} days; "
              "the period {first} → {last} has some.",
    },
    "simulate.progress": {"fr": "Envoi des tickets simulés", "en": "Sending simulated tickets"},
    "simulate.sent": {
        "fr": "{tickets} ticket(s) et {refunds} remboursement(s) acceptés en {uploads} envoi(s) ; "
              "{errors} erreur(s).",
        "en": "{tickets} ticket(s) and {refunds} refund(s) accepted in {uploads} upload(s); "
              "{errors} error(s).",
    },
    "simulate.errors_by_shop": {
        "fr": "Envois en erreur par épicerie (détail dans le journal) : {shops}",
        "en": "Failed uploads per shop (details in the log): {shops}",
    },
    "simulate.failed": {
        "fr": "Tous les envois ont échoué ({errors}) : la passerelle {url} est-elle lancée, les "
              "jetons sont-ils valides ?",
        "en": "Every upload failed ({errors}): is the gateway {url} running, are the tokens "
              "valid?",
    },
    "simulate.dry.title": {
        "fr": "Simulation (rien n'est envoyé) : {first} → {last}, graine {seed}, "
              "{shops} épicerie(s)",
        "en": "Simulation (nothing sent): {first} → {last}, seed {seed}, {shops} shop(s)",
    },
    "simulate.dry.header": {
        "fr": "territoire     épiceries  épic.-jours    tickets  tickets/j  lignes  lignes/t  "
              "rembourst  caisse/j  envois-tardifs (tickets)",
        "en": "territory      shops      shop-days      tickets  tickets/d  lines   lines/t   "
              "refunds    caisse/d  late-uploads (tickets)",
    },
    "simulate.dry.total": {"fr": "total", "en": "total"},
    "simulate.dry.uploads": {
        "fr": "{uploads} envoi(s) au total, du {first_at} au {last_at}.",
        "en": "{uploads} upload(s) in all, from {first_at} to {last_at}.",
    },
    "simulate.live_ticket": {
        "fr": "{at}  {shop:<34} {lines:>2} lignes  payé {paid}{caisse}{late}",
        "en": "{at}  {shop:<34} {lines:>2} lines  paid {paid}{caisse}{late}",
    },
    "simulate.live_late": {"fr": "  [envoi tardif]", "en": "  [late upload]"},
    "simulate.live_refund": {
        "fr": "{at}  {shop:<34} remboursement du ticket {original}",
        "en": "{at}  {shop:<34} refund of ticket {original}",
    },
    "demo.seeded": {
        "fr": "Démo prête : jetons de {shops} épiceries et {producers} producteurs, plus hub, "
              "opérateur, comités et trésoriers des caisses, dans {path} ; {created} éléments "
              "de catalogue créés.",
        "en": "Demo ready: tokens for {shops} shops and {producers} producers, plus hub, "
              "operator, the caisses' committees and treasurers, in {path}; {created} catalog "
              "items created.",
    },
    "demo.history_progress": {
        "fr": "Historique de la démo : {weeks} semaines de ventes ({first} → {last})",
        "en": "Demo history: {weeks} weeks of sales ({first} → {last})",
    },
    "demo.history_written": {
        "fr": "Historique écrit : {tickets} tickets ({lines} lignes) et {refunds} "
              "remboursements, du {first} au {last} ; le direct reprend le lendemain.",
        "en": "History written: {tickets} tickets ({lines} lines) and {refunds} refunds, "
              "from {first} to {last}; live traffic takes over the day after.",
    },
    "demo.season_progress": {
        "fr": "Saison de la démo : {years} ans de ventes hebdomadaires d'avant Vivres "
              "({first} → {last})",
        "en": "Demo season: {years} years of weekly sales from before Vivres ({first} → {last})",
    },
    "demo.season_written": {
        "fr": "Saison écrite : {weeks} semaines d'historique importées, {needs} besoins "
              "prévisionnels d'épiceries ({firm} engagés) et {plans} semaines de plans de "
              "culture de producteurs.",
        "en": "Season written: {weeks} weeks of history imported, {needs} shops' forward needs "
              "({firm} firm) and {plans} weeks of producers' crop plans.",
    },
    "planning.bad_quantity": {
        "fr": "Quantité illisible : « {text} ». Écrivez par exemple 12kg, 800 g, 3 L ou 24.",
        "en": "Unreadable quantity: '{text}'. Write e.g. 12kg, 800 g, 3 L or 24.",
    },
    "planning.pieces_only": {
        "fr": "Ce produit se compte en pièces : « {text} » ne convient pas.",
        "en": "This product is counted in pieces: '{text}' does not fit.",
    },
    "planning.unknown_product": {
        "fr": "Le produit « {product} » n'est pas au catalogue.",
        "en": "Product '{product}' is not in the catalog.",
    },
    "planning.no_coverage": {
        "fr": "Rien encore pour {product} à {territory} : ni ventes, ni besoins, ni plans.",
        "en": "Nothing yet for {product} in {territory}: no sales, needs or plans.",
    },
    "planning.short_history": {
        "fr": "Moins d'un an d'historique ({weeks} semaines) : la prévision est à plat, sans "
              "saisonnalité.",
        "en": "Less than a year of history ({weeks} weeks): the outlook is flat, no season.",
    },
    "planning.column.week": {"fr": "semaine du", "en": "week of"},
    "planning.column.outlook": {"fr": "prévision", "en": "outlook"},
    "planning.column.band": {"fr": "8 fois sur 10", "en": "8 times in 10"},
    "planning.column.needs": {"fr": "besoins", "en": "needs"},
    "planning.column.firm": {"fr": "dont engagés", "en": "of which firm"},
    "planning.column.plans": {"fr": "plans (tous)", "en": "plans (all)"},
    "planning.column.mine": {"fr": "les miens", "en": "mine"},
    "planning.column.gap": {"fr": "écart", "en": "gap"},
    "planning.covered": {"fr": "couvert", "en": "covered"},
    "planning.missing": {"fr": "il manque {units}", "en": "{units} short"},
    "planning.surplus": {"fr": "surplus de {units}", "en": "{units} surplus"},
    "planning.plans_written": {
        "fr": "Plan enregistré : {weeks} semaines de {product} pour {territory}.",
        "en": "Plan recorded: {weeks} weeks of {product} for {territory}.",
    },
    "planning.needs_written": {
        "fr": "Besoins enregistrés : {weeks} semaines de {product}.",
        "en": "Needs recorded: {weeks} weeks of {product}.",
    },
    "planning.history_written": {
        "fr": "Historique importé : {weeks} semaines pour {pairs} produits × territoires.",
        "en": "History imported: {weeks} weeks for {pairs} product × territory pairs.",
    },
    "planning.bad_row": {
        "fr": "{file}, ligne {line} : il faut territoire, produit, semaine (AAAA-MM-JJ) et "
              "unites (un nombre).",
        "en": "{file}, line {line}: needs territoire, produit, semaine (YYYY-MM-DD) and unites "
              "(a number).",
    },
    "demo.season_present": {
        "fr": "Saison déjà présente ({topic} contient des semaines) : rien n'est réécrit.",
        "en": "Season already there ({topic} holds weeks): nothing is written again.",
    },
    "demo.history_present": {
        "fr": "Historique déjà présent ({topic} contient des ventes) : rien n'est réécrit.",
        "en": "History already there ({topic} holds sales): nothing is written again.",
    },
    "simulate.supply_done": {
        "fr": "Semaine d'achats groupés (livraison du {slot}) : {offers} offres, {needs} besoins, "
              "{orders} commandes dont {refused} refusées puis réattribuées, {received} "
              "réceptions en épicerie.",
        "en": "Pooled-buying week (delivery {slot}): {offers} offers, {needs} needs, {orders} "
              "orders, {refused} refused and re-allocated, {received} receipts at shops.",
    },
    "unreachable": {
        "fr": "Impossible de joindre {what} : {error}",
        "en": "Cannot reach {what}: {error}",
    },
    "caisse.bad_amount": {
        "fr": "Montant invalide : {text} (ex. 12,50)",
        "en": "Invalid amount: {text} (e.g. 12.50)",
    },
    "caisse.bad_month": {
        "fr": "Mois invalide : {month} (AAAA-MM, de 2000 à 2100)",
        "en": "Invalid month: {month} (YYYY-MM, 2000 to 2100)",
    },
    "caisse.no_answer": {
        "fr": "La caisse n'a pas répondu à temps (le service caisse tourne-t-il ?). "
              "Relancer ne débite jamais deux fois.",
        "en": "The caisse did not answer in time (is the caisse service running?). "
              "Asking again never applies anything twice.",
    },
    "caisse.declined": {
        "fr": "Refusé : {reason}.",
        "en": "Declined: {reason}.",
    },
    "caisse.done": {
        "fr": "Fait. Solde de la carte : {balance}.",
        "en": "Done. Card balance: {balance}.",
    },
    "caisse.not_adopted": {
        "fr": "Décision non adoptée ({votes_for} pour, {against} contre) : rien n'est enregistré.",
        "en": "Decision not adopted ({votes_for} for, {against} against): nothing recorded.",
    },
    "caisse.decided": {
        "fr": "Décision {id} enregistrée, applicable à partir du {day}.",
        "en": "Decision {id} recorded, in force from {day}.",
    },
    "caisse.no_rules": {
        "fr": "Aucune règle d'allocation en vigueur pour {month} : rien n'est crédité.",
        "en": "No allowance rules in force for {month}: nothing credited.",
    },
    "caisse.credited": {
        "fr": "{households} foyer(s) crédité(s) pour {month}, {amount} au total.",
        "en": "{households} household(s) credited for {month}, {amount} in all.",
    },
    "caisse.contributed": {
        "fr": "Cotisation de {amount} enregistrée.",
        "en": "Contribution of {amount} recorded.",
    },
    "caisse.settled": {
        "fr": "{shops} commerce(s) réglé(s) pour {month} : {total} au total.",
        "en": "{shops} shop(s) settled for {month}: {total} in all.",
    },
    "caisse.csv_written": {
        "fr": "CSV écrit : {path}",
        "en": "CSV written: {path}",
    },
    "caisse.by_shop": {
        "fr": "Par commerce",
        "en": "By shop",
    },
    "caisse.by_shop_type": {
        "fr": "Par type de commerce",
        "en": "By shop type",
    },
    "caisse.by_month": {
        "fr": "Par mois",
        "en": "By month",
    },
    "caisse.by_band": {
        "fr": "Par tranche de revenus",
        "en": "By income band",
    },
    "caisse.local": {
        "fr": "local",
        "en": "local",
    },
    "caisse.organic": {
        "fr": "bio",
        "en": "organic",
    },
    "caisse.total": {
        "fr": "Total net : {total}",
        "en": "Net total: {total}",
    },
    "caisse.reason.INSUFFICIENT_BALANCE": {
        "fr": "solde insuffisant",
        "en": "insufficient balance",
    },
    "caisse.reason.SHOP_NOT_APPROVED": {
        "fr": "commerce non conventionné",
        "en": "shop not approved",
    },
    "caisse.reason.CARD_BLOCKED": {
        "fr": "carte bloquée",
        "en": "card blocked",
    },
    "caisse.reason.UNKNOWN_CARD": {
        "fr": "carte inconnue de cette caisse",
        "en": "card unknown to this caisse",
    },
    "caisse.reason.UNKNOWN_REDEMPTION": {
        "fr": "paiement inconnu",
        "en": "unknown redemption",
    },
    "caisse.reason.REFUND_EXCEEDS_REDEMPTION": {
        "fr": "remboursement supérieur au paiement",
        "en": "refund exceeds the redemption",
    },
    "caisse.reason.INVALID_AMOUNT": {
        "fr": "montant invalide",
        "en": "invalid amount",
    },
    "caisse.reason.NO_RULES": {
        "fr": "aucune règle d'allocation en vigueur",
        "en": "no allowance rules in force",
    },
    "caisse.reason.INVALID_REQUEST": {
        "fr": "demande invalide (champ manquant ou hors limites)",
        "en": "invalid request (a field missing or out of range)",
    },
    "simulate.caisse_done": {
        "fr": "{caisse}, {month} : {households} foyer(s) crédité(s), {redemptions} paiement(s) "
              "en caisse autorisé(s), {declined} refusé(s), {net} à régler aux épiceries.",
        "en": "{caisse}, {month}: {households} household(s) credited, {redemptions} caisse "
              "payment(s) authorised, {declined} declined, {net} to settle with the shops.",
    },
    "caisse.contributions": {
        "fr": "Cotisations et allocations par tranche de revenus",
        "en": "Contributions and allowances by income band",
    },
    "caisse.contribution_row": {
        "fr": "{households} foyer(s), allocations {allowances}, cotisations {contributions}",
        "en": "{households} household(s), allowances {allowances}, contributions {contributions}",
    },
    "security.not_secured": {
        "fr": "Ce cluster n'est pas sécurisé (KAFKA_SECURITY_PROTOCOL n'est pas SASL_*) : "
              "rien à appliquer. Lancez la pile avec `make up SECURE=1`.",
        "en": "This cluster is not secured (KAFKA_SECURITY_PROTOCOL is not SASL_*): nothing "
              "to apply. Start the stack with `make up SECURE=1`.",
    },
    "security.refused": {"fr": "Refusé par Kafka : {error}", "en": "Refused by Kafka: {error}"},
    "security.applied": {
        "fr": "{users} utilisateur(s) Kafka et {acls} ACL appliqués ; mots de passe dans {path}.",
        "en": "{users} Kafka user(s) and {acls} ACLs applied; passwords in {path}.",
    },
    "health.unreachable": {
        "fr": "Le service de santé ne répond pas à {url} : {error}",
        "en": "The health service does not answer at {url}: {error}",
    },
    "health.refused": {
        "fr": "Le service de santé refuse la demande ({status}) : {detail}",
        "en": "The health service refused the request ({status}): {detail}",
    },
    "health.no_token": {
        "fr": "Aucun jeton d'exploitation : donnez --token ou VIVRES_TOKEN.",
        "en": "No operator token: pass --token or set VIVRES_TOKEN.",
    },
    "health.header": {
        "fr": "{status} — état des flux à {at} (fenêtre {window} s)",
        "en": "{status} — stream health at {at} (window {window} s)",
    },
    "health.columns": {
        "fr": ("STATUT", "QUOI", "RETARD", "RETARD (s)", "DÉTAIL"),
        "en": ("STATUS", "WHAT", "LAG", "LAG (s)", "DETAIL"),
    },
    "health.kafka": {
        "fr": "{brokers} broker(s), contrôleur actif {controller}, {under} partition(s) "
              "sous-répliquée(s), {offline} hors ligne",
        "en": "{brokers} broker(s), active controller {controller}, {under} under-replicated "
              "partition(s), {offline} offline",
    },
    "health.group": {
        "fr": "{state}, {members} membre(s) : {reason}",
        "en": "{state}, {members} member(s): {reason}",
    },
    "health.service": {
        "fr": "latence p50 {p50}, p99 {p99} (sur le bus p99 {bus99})",
        "en": "latency p50 {p50}, p99 {p99} (on the bus p99 {bus99})",
    },
    "health.letters": {
        "fr": "{depth} rejet(s), dernier : {reason}",
        "en": "{depth} dead letter(s), latest: {reason}",
    },
    "health.stuck": {
        "fr": "le groupe {group} n'avance plus sur cet enregistrement ({error}). Pour le mettre "
              "de côté : {command}",
        "en": "group {group} does not get past this record ({error}). To set it aside: "
              "{command}",
    },
    "dlq.set_aside": {
        "fr": "{topic}[{partition}]@{offset} mis de côté dans {dead_letter} (rejet n° "
              "{letter}) ; le groupe {group} reprendra à l'offset {next}. Relancez le service.",
        "en": "{topic}[{partition}]@{offset} set aside to {dead_letter} (dead letter "
              "{letter}); group {group} will resume at offset {next}. Start the service again.",
    },
    "dlq.group_active": {
        "fr": "Le groupe {group} a encore {members} membre(s) actif(s) : arrêtez d'abord le "
              "service qui le consomme, puis recommencez (rien n'a été modifié).",
        "en": "Group {group} still has {members} active member(s): stop the service that "
              "consumes it first, then try again (nothing was changed).",
    },
    "dlq.not_at_head": {
        "fr": "Le groupe {group} n'attend pas l'offset {offset} de {topic}[{partition}] : il en "
              "est à {committed}. Rien n'a été mis de côté ; `vivres health` donne l'offset "
              "bloqué.",
        "en": "Group {group} is not waiting on offset {offset} of {topic}[{partition}]: it is "
              "at {committed}. Nothing was set aside; `vivres health` gives the blocked offset.",
    },
    "dlq.no_record": {
        "fr": "Aucun enregistrement à l'offset {offset} de {topic}[{partition}] (fin à {end}).",
        "en": "No record at offset {offset} of {topic}[{partition}] (end at {end}).",
    },
}


def language() -> str:
    lang = ShellSettings().lang.split("_")[0].lower()
    return lang if lang in ("fr", "en") else "fr"


def t(key: str, **values: object) -> str:
    """The message `key` in the reader's language, French when unsure."""
    entry = CATALOG[key]
    return entry.get(language(), entry["fr"]).format(**values)


def words(key: str) -> tuple[str, ...]:
    """A tuple of words (e.g. table headings) in the reader's language."""
    entry = CATALOG[key]
    return entry.get(language(), entry["fr"])
