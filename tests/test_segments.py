"""Message segmentation (escalation/segments.py): what the customer wrote now versus quoted
history, forwards, signatures and disclaimers, in English, Spanish, German, French, Portuguese,
Italian and Dutch.

Every e-mail here is written for these tests; the last test runs the splitter over the labelled
development set and checks only invariants (nothing lost, new text never emptied).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escalation.segments import Message, split_message

DEV_SET = Path("/work/shared/triage-dev/cases.jsonl")


# --- nothing to cut ---------------------------------------------------------------------------


def test_plain_message_without_markers_is_all_new() -> None:
    text = (
        "Hi, since this morning the Lake Como album shows 0 photos on the web but the app\n"
        "still lists 148. I haven't deleted anything. Can you check?"
    )
    assert split_message(text) == Message(text, "", "", "", "")


def test_empty_and_blank_descriptions_give_empty_parts() -> None:
    assert split_message("") == Message("", "", "", "", "")
    assert split_message("  \n\n \t") == Message("", "", "", "", "")


def test_surrounding_whitespace_is_stripped_but_characters_are_kept() -> None:
    text = "\r\n  Hola, ¿POR QUÉ mis fotos «Navidad» están borrosas?\r\nGracias!  \r\n"
    m = split_message(text)
    assert m.new == "Hola, ¿POR QUÉ mis fotos «Navidad» están borrosas?\r\nGracias!"


# --- replies: "On … wrote:" in seven languages ---------------------------------------------------


def test_thank_you_note_over_a_quoted_thread_keeps_the_photos_gone_text_out_of_new() -> None:
    text = (
        "They're all back, thank you so much!! You saved our anniversary.\n"
        "\n"
        "On Wed, 5 Mar 2025 at 09:41, PhotoVault Support <support@photovault.com> wrote:\n"
        '> Hi Dana, we restored the 312 files to your album "Our Wedding".\n'
        ">\n"
        "> On Tue, 4 Mar 2025 at 22:10, Dana Whitfield <dana.w@example.com> wrote:\n"
        ">> ALL MY PHOTOS GONE. The whole wedding album is empty!!!\n"
    )
    m = split_message(text)
    assert m.new == "They're all back, thank you so much!! You saved our anniversary."
    assert m.quoted.startswith("On Wed, 5 Mar 2025 at 09:41")
    assert "ALL MY PHOTOS GONE" in m.quoted
    assert "photos gone" not in m.new.lower()
    assert m.context() == m.quoted


def test_gmail_reply_header_wrapped_over_two_lines_is_quoted_whole() -> None:
    text = (
        "Still broken, sorry — the slideshow freezes on slide 12 again.\n"
        "\n"
        "On Mon, 10 Feb 2025 at 14:02, PhotoVault Support <\n"
        "support@photovault.com> wrote:\n"
        "\n"
        "> Please update the app to 6.12.1 and try once more.\n"
    )
    m = split_message(text)
    assert m.new == "Still broken, sorry — the slideshow freezes on slide 12 again."
    assert m.quoted.startswith("On Mon, 10 Feb 2025 at 14:02, PhotoVault Support <")
    assert m.quoted.endswith("> Please update the app to 6.12.1 and try once more.")


def test_gmail_reply_header_in_spanish_starts_the_quoted_part() -> None:
    text = (
        "Sigue sin funcionar: la galería privada pide la contraseña y luego da error 403.\n"
        "\n"
        "El lun, 3 mar 2025 a las 10:00, Ana Ruiz <ana.ruiz@example.es> escribió:\n"
        "> ¿Podría probar de nuevo con el enlace que le enviamos?\n"
    )
    m = split_message(text)
    assert (
        m.new == "Sigue sin funcionar: la galería privada pide la contraseña y luego da error 403."
    )
    assert m.quoted.startswith("El lun, 3 mar 2025 a las 10:00, Ana Ruiz")


def test_gmail_reply_header_in_german_starts_the_quoted_part() -> None:
    text = (
        "Danke, jetzt klappt der Export als ZIP wieder.\n"
        "\n"
        "Am 03.03.2025 um 10:00 schrieb Max Muster <max.muster@example.de>:\n"
        "> Bitte leeren Sie den Browser-Cache und versuchen Sie es erneut.\n"
    )
    m = split_message(text)
    assert m.new == "Danke, jetzt klappt der Export als ZIP wieder."
    assert m.quoted.startswith("Am 03.03.2025 um 10:00 schrieb Max Muster")


def test_gmail_reply_header_in_french_starts_the_quoted_part() -> None:
    text = (
        "Bonjour, le problème revient : les vignettes restent grises sur l'iPad.\n"
        "\n"
        "Le lun. 3 mars 2025 à 10:00, Jean Dupuis <jean.dupuis@example.fr> a écrit :\n"
        "> Pouvez-vous réinstaller l'application ?\n"
    )
    m = split_message(text)
    assert m.new == "Bonjour, le problème revient : les vignettes restent grises sur l'iPad."
    assert m.quoted.startswith("Le lun. 3 mars 2025 à 10:00")


def test_gmail_reply_header_in_portuguese_starts_the_quoted_part() -> None:
    text = (
        "Obrigada, o álbum voltou ao normal!\n"
        "\n"
        "Em seg., 3 de mar. de 2025 às 10:00, Ana Costa <ana.costa@example.pt> escreveu:\n"
        "> Olá Ana, restauramos as 40 fotos do álbum.\n"
    )
    m = split_message(text)
    assert m.new == "Obrigada, o álbum voltou ao normal!"
    assert m.quoted.startswith("Em seg., 3 de mar. de 2025")


def test_gmail_reply_header_in_italian_starts_the_quoted_part() -> None:
    text = (
        "Ho provato, ma il pagamento con PayPal viene ancora rifiutato.\n"
        "\n"
        "Il giorno lun 3 mar 2025 alle ore 10:00 Luca Bianchi <luca.b@example.it> ha scritto:\n"
        "> Può riprovare il pagamento dal sito?\n"
    )
    m = split_message(text)
    assert m.new == "Ho provato, ma il pagamento con PayPal viene ancora rifiutato."
    assert m.quoted.startswith("Il giorno lun 3 mar 2025")


def test_gmail_reply_header_in_dutch_starts_the_quoted_part() -> None:
    text = (
        "Het werkt weer, dank je!\n"
        "\n"
        "Op ma 3 mrt 2025 om 10:00 schreef Jan de Boer <jan.deboer@example.nl>:\n"
        "> Kun je de app opnieuw installeren?\n"
    )
    m = split_message(text)
    assert m.new == "Het werkt weer, dank je!"
    assert m.quoted.startswith("Op ma 3 mrt 2025 om 10:00 schreef")


def test_reply_header_with_unquoted_history_takes_everything_below_it() -> None:
    text = (
        "Sorry, one more question: can the watermark be a PNG with transparency?\n"
        "\n"
        "On 4 Mar 2025, at 18:20, Sam Ortiz <sam@photovault.com> wrote:\n"
        "\n"
        "Hi Lena, yes, you can set a watermark per gallery under Settings → Branding.\n"
        "\n"
        "Best,\n"
        "Sam\n"
    )
    m = split_message(text)
    assert m.new == "Sorry, one more question: can the watermark be a PNG with transparency?"
    assert m.quoted.startswith("On 4 Mar 2025, at 18:20")
    assert m.quoted.endswith("Sam")
    assert m.signature == ""


def test_address_style_reply_header_starts_the_quoted_part() -> None:
    text = (
        "Yes, the order number is PV-55781.\n"
        "\n"
        "Marta Kowalski <marta.k@photovault.com> wrote:\n"
        "> Could you send us the order number?\n"
    )
    m = split_message(text)
    assert m.new == "Yes, the order number is PV-55781."
    assert m.quoted.startswith("Marta Kowalski <marta.k@photovault.com> wrote:")


# --- replies: Outlook ---------------------------------------------------------------------------


def test_outlook_original_message_divider_starts_the_quoted_part() -> None:
    text = (
        "Hi Joanna,\n"
        "\n"
        "That did it — the 140 Tatry photos are visible again. Thanks for your patience.\n"
        "\n"
        "Marek\n"
        "\n"
        "-----Original Message-----\n"
        "From: PhotoVault Support <support@photovault.com>\n"
        "Sent: Tuesday, 4 March 2025 16:05\n"
        "To: Marek Nowak <marek.nowak@example.pl>\n"
        "Subject: RE: Uploads from 2 March missing\n"
        "\n"
        'Hello Marek, the uploads are back in "Tatry 2024". Please have a look.\n'
    )
    m = split_message(text)
    assert m.new == (
        "Hi Joanna,\n\nThat did it — the 140 Tatry photos are visible again. Thanks for your "
        "patience.\n\nMarek"
    )
    assert m.quoted.startswith("-----Original Message-----")
    assert m.forwarded == ""


@pytest.mark.parametrize(
    "divider",
    [
        "-----Mensaje original-----",
        "-----Ursprüngliche Nachricht-----",
        "-----Message d'origine-----",
        "-----Mensagem original-----",
        "-----Messaggio originale-----",
        "-----Oorspronkelijk bericht-----",
    ],
)
def test_original_message_divider_in_each_language_starts_the_quoted_part(divider: str) -> None:
    text = f"¡Gracias, ya funciona!\n\n{divider}\nDe: PhotoVault <support@photovault.com>\n"
    m = split_message(text)
    assert m.new == "¡Gracias, ya funciona!"
    assert m.quoted.startswith(divider)


def test_outlook_header_block_in_english_after_an_underscore_rule_is_quoted() -> None:
    text = (
        "Please cancel the second charge, I only have one seat.\n"
        "\n"
        "________________________________\n"
        "From: PhotoVault Billing <billing@photovault.com>\n"
        "Sent: Monday, March 3, 2025 9:12 AM\n"
        "To: Greg Palmer <greg@palmerstudio.example>\n"
        "Subject: Your invoice INV-2025-00311\n"
        "\n"
        "Your invoice for 2 seats is attached.\n"
    )
    m = split_message(text)
    assert m.new == "Please cancel the second charge, I only have one seat."
    assert m.quoted.startswith("________________________________\nFrom: PhotoVault Billing")


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (
            "Von: PhotoVault Support <support@photovault.com>\n"
            "Gesendet: Montag, 3. März 2025 10:00\n"
            "An: Anja Keller <anja@example.de>\n"
            "Betreff: AW: SEPA-Lastschrift",
            "de",
        ),
        (
            "De : PhotoVault Support <support@photovault.com>\n"
            "Envoyé : lundi 3 mars 2025 10:00\n"
            "À : Élodie Marchetti <elodie@example.fr>\n"
            "Objet : RE: Prélèvement",
            "fr",
        ),
        (
            "De: PhotoVault Support <support@photovault.com>\n"
            "Enviado el: lunes, 3 de marzo de 2025 10:00\n"
            "Para: Lucía Gómez <lucia@example.es>\n"
            "Asunto: RE: Cargo duplicado",
            "es",
        ),
        (
            "Da: PhotoVault Support <support@photovault.com>\n"
            "Inviato: lunedì 3 marzo 2025 10:00\n"
            "A: Chiara Russo <chiara@example.it>\n"
            "Oggetto: R: Stampe rovinate",
            "it",
        ),
        (
            "Van: PhotoVault Support <support@photovault.com>\n"
            "Verzonden: maandag 3 maart 2025 10:00\n"
            "Aan: Sanne Visser <sanne@example.nl>\n"
            "Onderwerp: RE: Diavoorstelling",
            "nl",
        ),
        (
            "De: PhotoVault Support <support@photovault.com>\n"
            "Enviado: segunda-feira, 3 de março de 2025 10:00\n"
            "Para: Beatriz Lopes <beatriz@example.com.br>\n"
            "Assunto: RE: Fotos sumiram",
            "pt",
        ),
    ],
    ids=["de", "fr", "es", "it", "nl", "pt"],
)
def test_outlook_header_block_in_each_language_starts_the_quoted_part(
    header: str, language: str
) -> None:
    text = f"Customer note ({language}): still not solved.\n\n{header}\n\nEarlier answer.\n"
    m = split_message(text)
    assert m.new == f"Customer note ({language}): still not solved."
    assert m.quoted == f"{header}\n\nEarlier answer."


# --- forwards -----------------------------------------------------------------------------------


def test_forwarded_scam_mail_with_a_one_line_note_keeps_only_the_note_as_new() -> None:
    text = (
        "Got this, is it really from you? I didn't click anything.\n"
        "\n"
        "---------- Forwarded message ---------\n"
        "From: PhotoVault Security <security@photovault-verify.example>\n"
        "Date: Mon, 3 Mar 2025 at 07:14\n"
        "Subject: Your account will be deleted in 24 hours\n"
        "To: <kim.l@example.com>\n"
        "\n"
        "Dear customer, your storage has been suspended. Confirm your card details here:\n"
        "http://photovault-verify.example/login\n"
    )
    m = split_message(text)
    assert m.new == "Got this, is it really from you? I didn't click anything."
    assert m.forwarded.startswith("---------- Forwarded message ---------")
    assert "Confirm your card details" in m.forwarded
    assert m.quoted == ""
    assert m.context() == m.forwarded


def test_bare_forward_has_no_new_text() -> None:
    text = (
        "---------- Forwarded message ---------\n"
        "From: PhotoVault <no-reply@photovault.com>\n"
        "Date: Sun, 2 Mar 2025 at 20:00\n"
        "Subject: Payment failed\n"
        "To: <ines@example.com>\n"
        "\n"
        "We couldn't process your payment for Premium.\n"
    )
    m = split_message(text)
    assert m.new == ""
    assert m.forwarded == text.strip()


def test_apple_mail_forward_divider_starts_the_forwarded_part() -> None:
    text = (
        "FYI — is this legit?\n"
        "\n"
        "Begin forwarded message:\n"
        "\n"
        'From: "PhotoVault" <alerts@pv-account-check.example>\n'
        "Subject: Unusual sign-in\n"
        "Date: 3 March 2025 at 06:58:11 GMT\n"
        "To: raj@example.com\n"
        "\n"
        "Click below to keep your photos.\n"
    )
    m = split_message(text)
    assert m.new == "FYI — is this legit?"
    assert m.forwarded.startswith("Begin forwarded message:")


@pytest.mark.parametrize(
    "divider",
    [
        "---------- Mensaje reenviado ---------",
        "---------- Weitergeleitete Nachricht ---------",
        "---------- Message transféré ---------",
        "---------- Mensagem encaminhada ---------",
        "---------- Messaggio inoltrato ---------",
        "---------- Doorgestuurd bericht ---------",
        "Anfang der weitergeleiteten Nachricht:",
        "Début du message réexpédié :",
    ],
)
def test_forward_divider_in_each_language_starts_the_forwarded_part(divider: str) -> None:
    text = (
        f"Is this e-mail really from PhotoVault?\n\n{divider}\n"
        "De: PhotoVault <seguridad@pv-login.example>\n\nVerify your account now.\n"
    )
    m = split_message(text)
    assert m.new == "Is this e-mail really from PhotoVault?"
    assert m.forwarded.startswith(divider)
    assert m.quoted == ""


def test_fwd_subject_line_opens_a_forwarded_body() -> None:
    text = (
        "Fwd: Your PhotoVault storage is full\n"
        "\n"
        "Dear user, your 200 GB are used up. Pay $4.99 within 12 hours or lose your photos:\n"
        "pv-storage-upgrade.example/pay\n"
    )
    m = split_message(text)
    assert m.new == ""
    assert m.forwarded == text.strip()


def test_fwd_subject_line_above_a_forward_divider_belongs_to_the_forward() -> None:
    text = (
        "Fwd: Invoice overdue – PhotoVault\n"
        "\n"
        "Is this one of yours? The sender address looks odd.\n"
        "\n"
        "---------- Forwarded message ---------\n"
        "From: PhotoVault Accounts <accounts@pv-billing.example>\n"
        "Date: Sat, 1 Mar 2025 at 12:00\n"
        "Subject: Invoice overdue – PhotoVault\n"
        "To: <noor@example.com>\n"
    )
    m = split_message(text)
    assert m.new == "Is this one of yours? The sender address looks odd."
    assert m.forwarded.startswith("Fwd: Invoice overdue – PhotoVault\n---------- Forwarded")


def test_thunderbird_original_message_introduced_as_a_forward_is_forwarded() -> None:
    text = (
        "I'm forwarding the mail I received this morning, the link goes to a strange site.\n"
        "\n"
        "-------- Original Message --------\n"
        "Subject: Action required: verify your PhotoVault account\n"
        "Date: Mon, 3 Mar 2025 08:12:44 +0100\n"
        "From: PhotoVault Team <team@photovault-secure.example>\n"
        "To: marco@example.it\n"
        "\n"
        "Verify within 24 hours.\n"
    )
    m = split_message(text)
    assert m.new.startswith("I'm forwarding the mail")
    assert m.forwarded.startswith("-------- Original Message --------")
    assert m.quoted == ""


# --- inline quoting and bottom-posting ----------------------------------------------------------


def test_inline_quoting_keeps_the_unquoted_lines_between_quotes_as_new() -> None:
    text = (
        "Hi Sam, answers below.\n"
        "\n"
        "> Which browser do you use?\n"
        "Edge 126 on Windows 11.\n"
        "\n"
        "> Does it happen with extensions switched off too?\n"
        "Yes, same thing — the progress bar stays at 0%.\n"
        "\n"
        "Thanks,\n"
        "Oona\n"
    )
    m = split_message(text)
    assert m.new == (
        "Hi Sam, answers below.\n\nEdge 126 on Windows 11.\n\n"
        "Yes, same thing — the progress bar stays at 0%."
    )
    assert (
        m.quoted
        == "> Which browser do you use?\n> Does it happen with extensions switched off too?"
    )
    assert m.signature == "Thanks,\nOona"


def test_bottom_posted_reply_below_the_quote_is_new() -> None:
    text = (
        "On Tue, 4 Mar 2025 at 11:30, PhotoVault Support <support@photovault.com> wrote:\n"
        "> Could you tell us the name of the album?\n"
        "\n"
        'It\'s called "Grandma 90th", and it has 64 photos.\n'
        "\n"
        "Cheers,\n"
        "Bill\n"
        "\n"
        "Sent from my iPhone\n"
    )
    m = split_message(text)
    assert m.new == 'It\'s called "Grandma 90th", and it has 64 photos.'
    assert m.quoted.startswith("On Tue, 4 Mar 2025")
    assert m.signature == "Cheers,\nBill\n\nSent from my iPhone"


# --- signatures ---------------------------------------------------------------------------------


def test_signature_with_title_company_and_phone_is_cut_after_the_sign_off() -> None:
    text = (
        "Hello,\n"
        "\n"
        "Since 09:00 none of our 12 designers can upload; each file fails: ERR_UPLOAD_TIMEOUT.\n"
        "\n"
        "Best regards,\n"
        "Helena Marques\n"
        "Studio Manager | Atelier Norte Lda. | +351 912 345 678\n"
        "www.ateliernorte.example\n"
    )
    m = split_message(text)
    assert m.new == (
        "Hello,\n\nSince 09:00 none of our 12 designers can upload; each file fails: "
        "ERR_UPLOAD_TIMEOUT."
    )
    assert m.signature.startswith("Best regards,\nHelena Marques")
    assert m.signature.endswith("www.ateliernorte.example")


@pytest.mark.parametrize(
    ("body", "closing"),
    [
        ("¿Pueden revisar por qué no se ven las miniaturas?", "Saludos,\nLucía Gómez"),
        (
            "Bitte prüfen Sie die Rechnung.",
            "Mit freundlichen Grüßen\nKatja Brandt\nBrandt Fotografie",
        ),
        ("Merci de vérifier la facture de mars.", "Cordialement,\nÉlodie Marchetti"),
        ("Podem verificar o meu pedido?", "Atenciosamente,\nBeatriz Lopes"),
        ("Potete controllare l'ordine PV-51230?", "Cordiali saluti,\nChiara Russo"),
        ("Kunnen jullie dit nakijken?", "Met vriendelijke groet,\nSanne Visser"),
        ("Could you take a look?", "Kind regards,\nSven"),
        ("Any idea what's wrong?", "Cheers,\nMo"),
        ("¿Me ayudan?", "¡Gracias y saludos!\nLucía"),
        ("Pouvez-vous m'aider ?", "Merci !\nAmélie"),
    ],
)
def test_sign_off_in_each_language_starts_the_signature(body: str, closing: str) -> None:
    m = split_message(f"Hi,\n\n{body}\n\n{closing}\n")
    assert m.new == f"Hi,\n\n{body}"
    assert m.signature == closing


@pytest.mark.parametrize(
    "sent_from",
    [
        "Sent from my iPhone",
        "Sent from my Android phone",
        "Sent from Outlook for iOS",
        "Enviado desde mi iPhone",
        "Von meinem iPhone gesendet",
        "Envoyé de mon iPhone",
        "Enviado do meu iPhone",
        "Inviato da iPhone",
        "Verzonden vanaf mijn iPhone",
    ],
)
def test_sent_from_my_phone_line_in_each_language_is_signature(sent_from: str) -> None:
    m = split_message(f"The app crashes when I open the Favourites tab.\n\n{sent_from}\n")
    assert m.new == "The app crashes when I open the Favourites tab."
    assert m.signature == sent_from


def test_dash_dash_space_delimiter_starts_the_signature() -> None:
    text = (
        "Can I switch from matte to lustre paper once an order is in production?\n"
        "\n"
        "-- \n"
        "Rosa Lindgren\n"
        "Lindgren Prints AB | +46 8 123 456 78\n"
    )
    m = split_message(text)
    assert m.new == "Can I switch from matte to lustre paper once an order is in production?"
    assert m.signature == "-- \nRosa Lindgren\nLindgren Prints AB | +46 8 123 456 78"


def test_one_line_dash_signature_with_name_and_title_is_signature() -> None:
    text = (
        "Twenty of our staff accounts were taken over overnight. Please lock them.\n"
        "\n"
        "— Aiko Tanaka, Head of IT, Northwind Events\n"
    )
    m = split_message(text)
    assert m.new == "Twenty of our staff accounts were taken over overnight. Please lock them."
    assert m.signature == "— Aiko Tanaka, Head of IT, Northwind Events"


def test_contact_block_without_sign_off_is_signature() -> None:
    text = (
        "We need the upload logs for account user_k22 preserved, a formal request will follow.\n"
        "\n"
        "Det. Insp. R. Okoro\n"
        "+44 20 7946 0321\n"
        "r.okoro@police.example.uk\n"
    )
    m = split_message(text)
    assert m.new.startswith("We need the upload logs")
    assert m.signature == "Det. Insp. R. Okoro\n+44 20 7946 0321\nr.okoro@police.example.uk"


# --- disclaimers --------------------------------------------------------------------------------


def test_signature_then_disclaimer_then_quoted_history_are_all_separated() -> None:
    text = (
        "Hi,\n"
        "\n"
        'The share link for "Team Offsite" asks guests to sign up. It used to open directly.\n'
        "\n"
        "Kind regards,\n"
        "Rahel Tesfaye\n"
        "Practice Manager | Okonkwo & Lind Solicitors\n"
        "\n"
        "This e-mail and its attachments are confidential and may be covered by legal privilege.\n"
        "If you are not the intended recipient, tell us by return e-mail and destroy any copies.\n"
        "\n"
        "On Fri, 28 Feb 2025 at 17:45, PhotoVault Support <support@photovault.com> wrote:\n"
        "> Hi Rahel, the link settings are under Share → Link options.\n"
    )
    m = split_message(text)
    assert m.new == (
        'Hi,\n\nThe share link for "Team Offsite" asks guests to sign up. It used to open directly.'
    )
    assert m.signature == (
        "Kind regards,\nRahel Tesfaye\nPractice Manager | Okonkwo & Lind Solicitors"
    )
    assert m.disclaimer.startswith("This e-mail and its attachments are confidential")
    assert m.disclaimer.endswith("destroy any copies.")
    assert m.quoted.startswith("On Fri, 28 Feb 2025")


def test_disclaimer_without_a_signature_is_still_cut() -> None:
    text = (
        "Please send me a corrected invoice with our VAT number DE314159265.\n"
        "\n"
        "CONFIDENTIALITY NOTICE: this message is meant only for the people it is addressed to.\n"
        "Reading, copying or forwarding it without permission is not allowed.\n"
    )
    m = split_message(text)
    assert m.new == "Please send me a corrected invoice with our VAT number DE314159265."
    assert m.signature == ""
    assert m.disclaimer.startswith("CONFIDENTIALITY NOTICE")


def test_consider_the_environment_line_is_disclaimer() -> None:
    text = (
        "Is there a way to export a whole album as one ZIP?\n"
        "\n"
        "Thanks,\n"
        "Oliver\n"
        "\n"
        "Please consider the environment before printing this e-mail.\n"
    )
    m = split_message(text)
    assert m.new == "Is there a way to export a whole album as one ZIP?"
    assert m.signature == "Thanks,\nOliver"
    assert m.disclaimer == "Please consider the environment before printing this e-mail."


@pytest.mark.parametrize(
    "notice",
    [
        "Este correo electrónico y sus anexos son confidenciales. Si usted no es el destinatario,"
        " le rogamos que lo elimine y avise al remitente.",
        "Diese E-Mail enthält vertrauliche Informationen. Wenn Sie nicht der richtige Adressat"
        " sind, informieren Sie bitte sofort den Absender und löschen Sie diese E-Mail.",
        "Ce message et toutes les pièces jointes sont confidentiels et destinés exclusivement à"
        " leur destinataire. Toute diffusion non autorisée est interdite.",
        "Esta mensagem pode conter informação confidencial. Se você não for o destinatário,"
        " apague-a e avise o remetente.",
        "Questo messaggio e i suoi allegati sono riservati. Se non siete il destinatario, vi"
        " preghiamo di cancellarlo e di avvisare il mittente.",
        "Dit e-mailbericht is vertrouwelijk en uitsluitend bestemd voor de geadresseerde. Indien"
        " u niet de geadresseerde bent, verzoeken wij u het te verwijderen.",
        "AVVISO DI RISERVATEZZA: le informazioni contenute in questo messaggio sono riservate.",
        "Bitte denken Sie an die Umwelt, bevor Sie diese E-Mail ausdrucken.",
    ],
)
def test_disclaimer_in_each_language_is_cut(notice: str) -> None:
    text = f"Hola / Hallo / Bonjour,\n\nThe album is empty again.\n\n{notice}\n"
    m = split_message(text)
    assert m.new == "Hola / Hallo / Bonjour,\n\nThe album is empty again."
    assert m.disclaimer == notice


# --- negative cases: nothing may be cut ---------------------------------------------------------


def test_thanks_followed_by_a_clause_is_new_text_not_a_sign_off() -> None:
    text = "Hi Noor,\n\nThanks, that fixed it but now the album is empty\nAna\n"
    m = split_message(text)
    assert "Thanks, that fixed it but now the album is empty" in m.new
    assert m.signature == ""


def test_message_ending_with_thanks_and_nothing_after_is_all_new() -> None:
    text = "Can I get a refund for the duplicate prints order #PV-71903?\n\nThanks!"
    assert split_message(text) == Message(text, "", "", "", "")


def test_wrote_in_the_middle_of_a_sentence_is_not_a_reply_header() -> None:
    text = (
        'My daughter wrote: "Mum, the photos are gone" and she was right.\n'
        "On Monday my husband wrote to you as well:\n"
        'nobody answered. The album "Kids 2024" is empty.'
    )
    assert split_message(text) == Message(text, "", "", "", "")


def test_regards_inside_a_sentence_is_not_a_sign_off() -> None:
    text = (
        "With regards to invoice INV-2025-007732, the VAT is wrong.\n"
        "\n"
        "Kind regards to the team that fixed my upload last week, by the way.\n"
        "Could you also send me a receipt?"
    )
    assert split_message(text) == Message(text, "", "", "", "")


def test_from_line_outside_a_header_block_is_new_text() -> None:
    text = (
        "I got a strange SMS.\n"
        "From: PhotoVault\n"
        "It says my account is locked. From: what I can tell, it's fake? Please confirm."
    )
    assert split_message(text) == Message(text, "", "", "", "")


def test_customer_using_double_dash_as_a_dash_keeps_everything() -> None:
    text = (
        "The upload -- all 300 photos -- stopped at 99%.\n"
        "-- \n"
        "Then the app logged me out and now the album shows none of them, even on the website."
    )
    assert split_message(text) == Message(text, "", "", "", "")


def test_dash_bullets_at_the_end_are_not_a_signature() -> None:
    text = "What I tried:\n\n- Reinstalled the app\n- Cleared the cache\n\n- Nothing helped"
    assert split_message(text) == Message(text, "", "", "", "")


def test_sign_off_followed_by_more_paragraphs_is_not_cut() -> None:
    text = (
        "The prints arrived scratched.\n"
        "\n"
        "Thanks,\n"
        "\n"
        "Also, another thing: my storage counter still shows 4 GB used after deleting everything."
        " Is that a bug or does it take a few days to update?\n"
    )
    m = split_message(text)
    assert m.new == text.strip()
    assert m.signature == ""


def test_postscript_after_the_name_keeps_the_whole_closing_in_new() -> None:
    text = (
        "Please restore the album.\n"
        "\n"
        "Best,\n"
        "Ana\n"
        "\n"
        "P.S. the album is called Summer 2024 and it had 500 photos\n"
    )
    m = split_message(text)
    assert m.new == text.strip()
    assert m.signature == ""


def test_order_details_at_the_end_are_not_a_contact_block() -> None:
    text = (
        "Please refund the second charge from Tuesday.\n"
        "\n"
        "Order PV-71903\n"
        "Invoice INV-2025-007732, paid 12.03.2025"
    )
    assert split_message(text) == Message(text, "", "", "", "")


def test_sign_off_inside_the_last_sentence_stays_in_new() -> None:
    text = "Goedemorgen, werkt de app ook op een Android-tablet? Ik zie hem niet. Groeten, Femke"
    assert split_message(text) == Message(text, "", "", "", "")


def test_thank_you_only_message_is_never_emptied() -> None:
    text = "Thank you so much!\nMaria"
    m = split_message(text)
    assert m.new == text
    assert m.signature == ""


def test_greater_than_comparisons_are_not_quotes() -> None:
    text = "Albums with\n>500 photos take 30 s to open,\n>1000 photos never open."
    assert split_message(text) == Message(text, "", "", "", "")


def test_customer_saying_this_email_is_confidential_is_not_a_disclaimer() -> None:
    text = (
        "Hello,\n"
        "\n"
        "This email is confidential: my ex-partner posted photos of my house in a public"
        " gallery and I'm scared. Please remove it today.\n"
        "\n"
        "Please don't tell him I reported it."
    )
    assert split_message(text) == Message(text, "", "", "", "")


def test_weekday_reply_line_without_date_or_address_is_not_a_header() -> None:
    text = "On Monday my photographer wrote:\nthe gallery is ready. But I can't open it."
    assert split_message(text) == Message(text, "", "", "", "")


# --- properties ---------------------------------------------------------------------------------

_MARKER_LINES = [
    "> quoted",
    "On Tue, 4 Mar 2025 at 10:00, Ana <ana@example.com> wrote:",
    "-----Original Message-----",
    "---------- Forwarded message ---------",
    "From: A <a@example.com>",
    "Sent: Monday",
    "To: B",
    "Subject: x",
    "Fwd: x",
    "Best regards,",
    "Thanks!",
    "Ana Lima",
    "-- ",
    "Sent from my iPhone",
    "+1 555 0100 | www.example.com",
    "CONFIDENTIALITY NOTICE: if you are not the intended recipient, delete this.",
    "",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(_MARKER_LINES), st.text(max_size=60)),
        max_size=25,
    ),
    st.sampled_from(["\n", "\r\n"]),
)
def test_any_text_is_split_into_whole_lines_and_nothing_is_lost(
    lines: list[str], newline: str
) -> None:
    text = newline.join(lines)
    m = split_message(text)
    parts = (m.new, m.quoted, m.forwarded, m.signature, m.disclaimer)
    assert all(part == part.strip() for part in parts)
    for line in text.splitlines():
        if line.strip():
            assert any(line.strip() in part for part in parts)
    assert sum(len(part) for part in parts) <= len(text)
    assert split_message(text) == m


# --- the development set ------------------------------------------------------------------------


def _dev_descriptions() -> list[tuple[str, str]]:
    if not DEV_SET.exists():
        return []
    rows = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line]
    return [(row["id"], row["payload"]["ticket"]["description"]) for row in rows]


def test_dev_set_descriptions_lose_no_line_and_keep_new_text() -> None:
    cases = _dev_descriptions()
    if not cases:
        pytest.skip(f"{DEV_SET} not available")
    assert len(cases) == 150
    for case_id, text in cases:
        m = split_message(text)
        parts = (m.new, m.quoted, m.forwarded, m.signature, m.disclaimer)
        for line in text.splitlines():
            if line.strip():
                assert any(line.strip() in part for part in parts), (case_id, line)
        assert sum(len(part) for part in parts) <= len(text), case_id
        has_unquoted = any(
            line.strip() and not line.lstrip().startswith(">") for line in text.splitlines()
        )
        if has_unquoted:
            assert m.new, case_id
