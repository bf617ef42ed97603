"""Language lexicons are policy data (config/languages/<code>.toml): loaded with the policy,
validated with errors that name the lexicon file and key, read only for tickets in their
language, folded like the text (accents written or not)."""

from __future__ import annotations

from pathlib import Path

import pytest

from escalation.matching import Text
from escalation.policy import PolicyError, load_policy

ROOT = Path(__file__).resolve().parent.parent
POLICY = (ROOT / "config" / "policy.toml").read_text(encoding="utf-8")

LEXICON = """
language = "xx"
name = "Testish"

[vocabulary]
xx_media = '(?:fotos?|bilder)'

[negation]
words = ['nae']

[scenarios.data_loss_single_user]
signals = ['@xx_media (?:verschwunden|perdidas)', 'álbum vacío']
"""


def _policy_with(tmp_path: Path, lexicon: str, code: str = "xx") -> Path:
    (tmp_path / "languages").mkdir(exist_ok=True)
    (tmp_path / "languages" / f"{code}.toml").write_text(lexicon, encoding="utf-8")
    text = POLICY
    if "\n[languages]\n" in text:
        start = text.index("\n[languages]\n")
        end = text.index("]", text.index("files", start)) + 1
        text = text[:start] + text[end:]
    text += f'\n[languages]\nfiles = ["languages/{code}.toml"]\n'
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_lexicon_adds_its_signals_for_its_language_only(tmp_path: Path) -> None:
    policy = load_policy(_policy_with(tmp_path, LEXICON))
    index = policy.compiled.scenario_index["data_loss_single_user"]
    own = policy.compiled.scan(Text.of("Meine fotos verschwunden"), "xx")
    assert index in own.scenarios
    english = policy.compiled.scan(Text.of("Meine fotos verschwunden"), "en")
    assert index not in english.scenarios


def test_accents_are_folded_in_text_and_patterns(tmp_path: Path) -> None:
    policy = load_policy(_policy_with(tmp_path, LEXICON))
    index = policy.compiled.scenario_index["data_loss_single_user"]
    for text in ("mi album vacio", "mi Álbum VACÍO"):
        assert index in policy.compiled.scan(Text.of(text), "xx").scenarios, text


def test_a_lexicons_negation_words_negate_its_signals(tmp_path: Path) -> None:
    policy = load_policy(_policy_with(tmp_path, LEXICON))
    index = policy.compiled.scenario_index["data_loss_single_user"]
    assert index not in policy.compiled.scan(Text.of("nae fotos perdidas"), "xx").scenarios


@pytest.mark.parametrize(
    ("lexicon", "message"),
    [
        (LEXICON.replace("data_loss_single_user", "data_lost"), "unknown scenario 'data_lost'"),
        (LEXICON.replace("xx_media =", "media ="), "start with 'xx_'"),
        (LEXICON.replace("verschwunden|perdidas)", "verschwunden"), "invalid regular expression"),
        (LEXICON.replace('name = "Testish"', 'nmae = "Testish"'), "unknown key 'nmae'"),
    ],
)
def test_a_broken_lexicon_names_its_file_and_key(
    tmp_path: Path, lexicon: str, message: str
) -> None:
    with pytest.raises(PolicyError) as raised:
        load_policy(_policy_with(tmp_path, lexicon))
    assert raised.value.source.endswith("xx.toml"), str(raised.value)
    assert message in str(raised.value)


def test_a_missing_lexicon_file_is_named(tmp_path: Path) -> None:
    path = _policy_with(tmp_path, LEXICON)
    (tmp_path / "languages" / "xx.toml").unlink()
    with pytest.raises(PolicyError, match=r"languages\.files\[0\]: cannot read languages/xx.toml"):
        load_policy(path)


def test_a_lexicon_can_drop_an_english_negation_word_that_means_something_else(
    tmp_path: Path,
) -> None:
    # Portuguese "no" is "in the": "no site as fotos sumiram" must still read as lost photos.
    lexicon = LEXICON.replace("words = ['nae']", "words = ['nae']\ndrop = ['no']")
    policy = load_policy(_policy_with(tmp_path, lexicon))
    index = policy.compiled.scenario_index["data_loss_single_user"]
    assert index in policy.compiled.scan(Text.of("no album fotos perdidas"), "xx").scenarios
    assert index not in policy.compiled.scan(Text.of("no fotos perdidas"), "en").scenarios


def test_a_lexicon_can_cancel_an_english_legal_term_that_means_something_else(
    tmp_path: Path,
) -> None:
    # Brazilian "que legal!" is "how cool!", not legal language.
    lexicon = LEXICON + "\n[triggers]\nnot_legal_terms = ['que legal']\n"
    policy = load_policy(_policy_with(tmp_path, lexicon))
    from escalation.matching import LEGAL_TERMS

    assert LEGAL_TERMS not in policy.compiled.scan(Text.of("que legal o editor"), "xx").phrases
    assert LEGAL_TERMS in policy.compiled.scan(Text.of("que legal o editor"), "en").phrases
