"""Tickets for the bench: the seed's ticket under fresh ids for the service phases, and a
generated mix of 30-odd kinds of tickets in varied wordings for triage speed.

Generation is seeded, so every run triages the same 10,000 tickets.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from escalation.models import EscalationPackage, TicketPayload, parse_payload

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "T-12345.json"
CUSTOMERS = 100  # bench_0 … bench_99, seeded by bench.stack


def service_payload(ticket_id: str, n: int) -> TicketPayload:
    """The seed's ticket (a P1 data-loss problem, so it escalates) for customer n % 100;
    Step 1 gathers the rest from PostgreSQL as it would for a real ticket."""
    data = json.loads(EXAMPLE.read_text())
    ticket = data["ticket"]
    ticket["id"] = ticket_id
    ticket["customerEmail"] = f"customer{n % CUSTOMERS}@bench.example"
    ticket["customerName"] = f"Customer {n % CUSTOMERS}"
    ticket["createdAt"] = datetime.now(UTC).isoformat()
    return parse_payload(data)


# (category or None, subject, description) — one or more per policy scenario, plus noise.
KINDS: tuple[tuple[str | None, str, str], ...] = (
    (None, "Site is down", "Nobody on our team can load any gallery, the whole site returns 502."),
    ("outage", "Everything broken?", "PhotoVault is not loading for me or any of my clients."),
    (None, "Photos gone for all our photographers", "Several users in our studio lost albums."),
    (None, "Someone is inside my account", "I see logins from another country, passwords changed."),
    (None, "Checkout not working for anyone", "All payments fail at checkout with error 500."),
    (None, "Court order - due today", "We received a court order requiring the data by 5pm."),
    (None, "GDPR data request", "Under GDPR article 15 I request a copy of all my data."),
    (None, "Subpoena for user records", "Our firm has served a subpoena for account records."),
    (None, "Copyright infringement", "Someone uploaded my photos without permission, DMCA."),
    (None, "Abusive gallery", "A user posts content that violates your terms of service."),
    (None, "Photos disappeared after upload", "I uploaded 87 photos and they are not there."),
    ("photo_upload_problems", "Upload lost", "My album is empty since the last upload."),
    (None, "Locked out", "I cannot log in, the reset email never arrives."),
    (None, "Card declined", "My payment failed twice although my card works elsewhere."),
    (None, "Chargeback", "I am disputing this charge with my bank."),
    (None, "Security hole", "I found an XSS vulnerability in the gallery comments."),
    (None, "Slideshow broken since update", "After yesterday's release slideshows do not play."),
    (None, "Bug in the editor", "Cropping resets the rotation, looks like a bug."),
    (None, "Very slow galleries", "Galleries take 30 seconds to load, performance is awful."),
    (None, "Bug but I found a workaround", "Sorting fails; reloading twice works around it."),
    (None, "Question about my bill", "Why was I charged twice this month? Please check."),
    (None, "Invoice has the wrong VAT", "The invoice shows the wrong company address and VAT."),
    (None, "Refund please", "I would like my money back for the annual plan."),
    (None, "Upgrade to business", "How do I switch my subscription to the business plan?"),
    (None, "Cancel my account", "I want to cancel my subscription and close my account."),
    (None, "Just signed up", "I'm new here and don't know where to start with galleries."),
    (None, "Partnership", "We are a print lab interested in a partnership with PhotoVault."),
    (None, "How do I set up client proofing", "What is the best way to run a proofing workflow?"),
    (None, "EXIF and colour profiles", "Do you keep EXIF metadata and the ICC colour profile?"),
    (None, "Feature request: dark mode", "It would be great if the app had a dark mode."),
    (None, "Small suggestion", "The upload button could be more visible, just a thought."),
    ("misc", "Hello", "I have a question about something."),
)
OPENERS = ("", "Hi, ", "Hello team, ", "Good morning. ", "URGENT: ", "Sorry to bother you, ")
MOODS = (
    "",
    " This is really frustrating.",
    " I am furious, this is unacceptable and I want this fixed NOW!",
    " Thanks so much for your help!",
    " Otherwise I will talk to my lawyer.",
    " I need this before my client's wedding this weekend.",
    " The deadline is tomorrow morning.",
)
FILLER = (
    " I have been a customer for years and never had problems before.",
    " I tried another browser and cleared the cache.",
    " My clients are waiting for the gallery link.",
    " Please let me know what information you need from me.",
    " I attached screenshots to the previous email.",
)
URGENCIES = ("critical", "high", "medium", "low")
TIERS = ("free", "free", "pro", "premium", "business", None)


# Tickets in the six other languages triage reads (issue 11): a quarter of the multilingual mix,
# so the figure includes language detection and the lexicons' indexes.
FOREIGN: tuple[tuple[str, str], ...] = (
    ("Fotos desaparecidas", "Hola, subí 200 fotos de la boda y ahora el álbum aparece vacío."),
    ("No puedo entrar", "No puedo iniciar sesión en mi cuenta desde ayer, el código no llega."),
    ("Fotos weg", "Hallo, seit dem Update sind alle Bilder aus meinem Album verschwunden."),
    ("Doppelt abgebucht", "Sie haben meine Kreditkarte zweimal belastet, bitte erstatten."),
    ("Site inaccessible", "Bonjour, le site ne charge plus du tout, erreur 503 pour tous."),
    ("Remboursement", "Je voudrais être remboursé de mon abonnement annuel, merci."),
    ("Fotos sumiram", "Olá, as fotos do meu álbum sumiram depois da atualização do app."),
    ("Pagamento recusado", "Meu cartão foi recusado no pagamento, mas funciona em outros sites."),
    ("Foto sparite", "Buongiorno, le foto del matrimonio non ci sono più nella galleria."),
    ("Richiesta GDPR", "Ai sensi del GDPR chiedo la cancellazione di tutti i miei dati."),
    ("Foto's kwijt", "Hallo, al mijn foto's zijn verdwenen uit mijn album na de update."),
    ("Kan niet inloggen", "Ik kan niet meer inloggen op mijn account, graag hulp."),
)


def multilingual_packages(count: int, seed: int = 11) -> list[EscalationPackage]:
    """`count` packages of which one in four is in another language, the rest as
    :func:`varied_packages` makes them."""
    packages = varied_packages(count, seed)
    created = datetime(2024, 11, 7, 14, 30, tzinfo=UTC)
    for i in range(0, count, 4):
        subject, description = FOREIGN[(i // 4) % len(FOREIGN)]
        payload = {
            "ticket": {
                "id": f"TRIAGE-L{i}",
                "subject": subject,
                "description": description,
                "urgency": URGENCIES[i % len(URGENCIES)],
                "createdAt": (created + timedelta(minutes=i)).isoformat(),
                "customerEmail": f"customer{i % CUSTOMERS}@bench.example",
                "autoResponseEligible": False,
                "kbMatched": False,
            },
            "customer": {
                "userId": f"bench_{i % CUSTOMERS}",
                "accountStatus": TIERS[i % len(TIERS)],
            },
        }
        packages[i] = EscalationPackage.from_payload(parse_payload(payload))
    return packages


def varied_packages(count: int, seed: int = 6) -> list[EscalationPackage]:
    """`count` escalation packages: every kind, opener, mood, tier and urgency mixed, with
    descriptions from one line to a rambling paragraph."""
    rng = random.Random(seed)
    created = datetime(2024, 11, 7, 14, 30, tzinfo=UTC)
    packages = []
    for i in range(count):
        category, subject, description = KINDS[i % len(KINDS)]
        text = rng.choice(OPENERS) + description + rng.choice(MOODS)
        text += "".join(rng.sample(FILLER, rng.randint(0, len(FILLER))))
        eligible = rng.random() < 0.5
        payload = {
            "ticket": {
                "id": f"TRIAGE-{i}",
                "subject": subject if rng.random() > 0.2 else subject.lower(),
                "description": text,
                "category": category if rng.random() > 0.3 else None,
                "urgency": rng.choice(URGENCIES),
                "createdAt": (created + timedelta(minutes=i)).isoformat(),
                "customerEmail": f"customer{i % CUSTOMERS}@bench.example",
                "customerName": f"Customer {i % CUSTOMERS}",
                "autoResponseEligible": eligible,
                "kbMatched": eligible and rng.random() < 0.8,
            },
            "customer": {"userId": f"bench_{i % CUSTOMERS}", "accountStatus": rng.choice(TIERS)},
            "history": {"previousTickets": rng.randint(0, 12)},
        }
        packages.append(EscalationPackage.from_payload(parse_payload(payload)))
    return packages
