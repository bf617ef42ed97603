"""The policy file (seed Steps 2-3, DESIGN "Default policy"): the shipped defaults, and one clear
error naming the key for every kind of typo an operator can make while configuring it."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest

from escalation.models import TEAMS, EscalationPackage, Priority, parse_payload
from escalation.playbooks import render_playbook
from escalation.policy import (
    Policy,
    PolicyError,
    anchored,
    load_policy,
    parse_duration,
    parse_policy,
)

POLICY_PATH = Path(__file__).resolve().parent.parent / "config" / "policy.toml"
SOURCE = "config/policy.toml"
CONFIG = POLICY_PATH.parent  # lexicon files are read relative to the policy


@pytest.fixture(scope="module")
def text() -> str:
    return POLICY_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(POLICY_PATH)


def index_of(policy: Policy, scenario_id: str) -> int:
    return [s.id for s in policy.scenarios].index(scenario_id)


def in_scenario(text: str, scenario_id: str, old: str, new: str) -> str:
    """Replace the first ``old`` inside the [[scenarios]] block of ``scenario_id``."""
    start = text.index(f'id = "{scenario_id}"')
    end = text.find("[[scenarios]]", start)
    end = len(text) if end == -1 else end
    block = text[start:end]
    assert old in block, (scenario_id, old)
    return text[:start] + block.replace(old, new, 1) + text[end:]


def error_for(text: str) -> str:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, SOURCE, CONFIG)
    message = str(caught.value)
    assert "\n" not in message  # one clear line
    return message


# ---- The shipped default policy ---------------------------------------------------------------


def test_default_policy_loads_with_every_team(policy: Policy) -> None:
    assert sorted(policy.teams) == sorted(TEAMS)
    assert policy.team("engineering").display_name == "Engineering Team"
    assert policy.team("engineering").email == "engineering@photovault.example"
    assert all(team.channels == ["email"] for team in policy.teams.values())


def test_priorities_follow_seed_step_3_and_dashboard_colours(policy: Policy) -> None:
    rows = {
        p.value: (
            policy.priorities.get(p).label,
            policy.priorities.get(p).response_minutes,
            policy.priorities.get(p).indicator,
        )
        for p in Priority
    }
    assert rows == {
        "P0": ("Critical", 15, "🔴"),
        "P1": ("High", 60, "🔴"),
        "P2": ("Medium", 240, "🟡"),
        "P3": ("Low", 1440, "🟢"),
    }
    assert policy.priorities.P0.immediate_alert


@pytest.mark.parametrize(
    ("scenario", "team", "priority", "minutes"),
    [
        ("site_down", "engineering", "P0", 15),
        ("widespread_data_loss", "engineering", "P0", 15),
        ("security_breach", "engineering", "P0", 15),
        ("payment_processing_broken", "billing", "P0", 15),
        ("legal_emergency", "legal", "P0", 15),
        ("data_loss_single_user", "engineering", "P1", 60),
        ("account_access_blocked", "engineering", "P1", 60),
        ("payment_failure", "billing", "P1", 60),
        ("payment_dispute", "billing", "P1", 120),
        ("gdpr_privacy_request", "legal", "P1", 120),
        ("legal_demand", "legal", "P1", 120),
        ("copyright_dispute", "legal", "P1", 120),
        ("tos_violation", "legal", "P1", 120),
        ("threatening_language", "legal", "P1", 120),
        ("security_vulnerability", "engineering", "P1", 60),
        ("feature_broken", "engineering", "P2", 240),
        ("bug_report", "engineering", "P2", 240),
        ("performance_issue", "engineering", "P2", 240),
        ("bug_with_workaround", "engineering", "P2", 240),
        ("billing_inquiry", "billing", "P2", 240),
        ("invoice_error", "billing", "P2", 240),
        ("refund_request", "billing", "P2", 240),
        ("subscription_change", "billing", "P2", 240),
        ("complex_how_to", "customer_success", "P2", 240),
        ("onboarding_issue", "customer_success", "P2", 240),
        ("account_cancellation", "customer_success", "P2", 240),
        ("partnership_inquiry", "customer_success", "P2", 240),
        ("feature_request_premium", "customer_success", "P3", 1440),
        ("feature_request", "product", "P3", 1440),
        ("enhancement_suggestion", "product", "P3", 1440),
    ],
)
def test_default_policy_matches_the_design_table(
    policy: Policy, scenario: str, team: str, priority: str, minutes: int
) -> None:
    row = policy.scenario(scenario)
    assert (row.team, row.priority.value, row.response_minutes) == (team, priority, minutes)
    assert row.reason and row.playbook


def test_several_users_point_at_p0_rows(policy: Policy) -> None:
    assert policy.scenario("data_loss_single_user").several_users == "widespread_data_loss"
    assert policy.scenario("payment_failure").several_users == "payment_processing_broken"
    for scenario in policy.scenarios:
        if scenario.several_users:
            assert policy.scenario(scenario.several_users).priority is Priority.P0
            assert scenario.kind == "problem"


def test_premium_feature_requests_go_to_customer_success(policy: Policy) -> None:
    for request in ("feature_request", "enhancement_suggestion"):
        assert policy.scenario(request).premium_scenario == "feature_request_premium"


def test_modifiers_follow_the_design(policy: Policy) -> None:
    assert policy.modifiers.premium_problem_min is Priority.P1
    assert policy.modifiers.angry_complaint_min is Priority.P1
    assert policy.modifiers.several_users_min_reports >= 2
    assert policy.modifiers.several_users_window_minutes == 24 * 60


def test_unknown_upload_category_is_not_a_scenario(policy: Policy) -> None:
    assert "photo_upload_problems" not in policy.compiled.category_index
    assert policy.compiled.category_index["data_loss"] == index_of(policy, "data_loss_single_user")


def test_data_loss_playbook_mentions_the_seed_actions(policy: Policy) -> None:
    playbook = " ".join(policy.scenario("data_loss_single_user").playbook)
    for action in (
        "Check server logs for upload",
        "Verify files uploaded to storage bucket",
        "orphaned upload records",
        "manually link to gallery",
        "apologize and offer credit",
    ):
        assert action in playbook


@pytest.mark.parametrize("full", [False, True])
def test_every_playbook_reads_well_with_or_without_context(policy: Policy, full: bool) -> None:
    payload = {
        "ticket": {
            "id": "T-9",
            "subject": "x",
            "urgency": "low",
            "createdAt": "2024-11-07T14:30:00Z",
            "customerEmail": "a@example.com",
        },
        "customer": {"userId": "user_9", "accountStatus": "pro", "accountAge": "1 year"}
        if full
        else None,
        "technicalContext": {
            "lastUploadAttempt": "2024-11-07T14:25:00Z",
            "errorCode": "ERR_X",
            "browserInfo": "Firefox 120",
            "fileCount": 3,
        }
        if full
        else None,
    }
    package = EscalationPackage.from_payload(parse_payload(payload))
    for scenario in policy.scenarios:
        for line in render_playbook(policy, scenario.id, package):
            assert line and "None" not in line and "{" not in line, (scenario.id, line)
            assert line == " ".join(line.split())


def test_header_explains_how_to_configure_team_routing_before_use(text: str) -> None:
    header = text.split("\n\n", 1)[0]
    assert "configure team routing" in header.lower()
    assert "manager_email" in header


def test_every_signal_is_indexed_for_fast_matching(policy: Policy) -> None:
    assert policy.compiled.reader("en").index.anywhere == ()


def test_policy_survives_serialisation_as_workflow_input(policy: Policy) -> None:
    copy = Policy.model_validate_json(policy.model_dump_json())
    assert copy.scenario("site_down") == policy.scenario("site_down")
    assert pickle.loads(pickle.dumps(copy)).team("legal") == policy.team("legal")


def test_helpers_name_unknown_keys(policy: Policy) -> None:
    with pytest.raises(KeyError, match="unknown team 'legl'"):
        policy.team("legl")
    with pytest.raises(KeyError):
        policy.scenario("nope")


# ---- Durations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("15m", 15),
        ("15 min", 15),
        ("45 minutes", 45),
        ("1h", 60),
        ("4 hours", 240),
        ("24h", 1440),
        ("1d", 1440),
        ("2 days", 2880),
        ("immediate", 0),
        ("Immediate", 0),
    ],
)
def test_parse_duration_reads_sla_durations(text: str, minutes: int) -> None:
    assert parse_duration(text) == minutes


@pytest.mark.parametrize("text", ["2hrs", "soon", "", "1.5h", "h", "-1h", "1 week"])
def test_parse_duration_rejects_vague_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


# ---- Typos: one message naming the key ----------------------------------------------------------


def test_unknown_team_in_a_scenario_names_the_scenario_team(policy: Policy, text: str) -> None:
    broken = in_scenario(text, "bug_report", 'team = "engineering"', 'team = "enginering"')
    message = error_for(broken)
    i = index_of(policy, "bug_report")
    assert message.startswith(f"{SOURCE}: scenarios[{i}].team: unknown team 'enginering'")
    assert "(known: billing, customer_success, engineering, legal, product)" in message


def test_unknown_team_section_is_refused(text: str) -> None:
    broken = text.replace("[teams.product]", "[teams.produkt]")
    message = error_for(broken)
    assert "teams.produkt: unknown team 'produkt'" in message


@pytest.mark.parametrize("bad", ["P5", "p1", "high", "1"])
def test_bad_priority_names_the_key(policy: Policy, text: str, bad: str) -> None:
    broken = in_scenario(text, "refund_request", 'priority = "P2"', f'priority = "{bad}"')
    message = error_for(broken)
    i = index_of(policy, "refund_request")
    assert f"scenarios[{i}].priority: unknown priority '{bad}'" in message


@pytest.mark.parametrize("bad", ["2hrs", "soon", "4 hrs", "ASAP"])
def test_bad_scenario_duration_names_the_key(policy: Policy, text: str, bad: str) -> None:
    broken = in_scenario(text, "refund_request", 'response = "4h"', f'response = "{bad}"')
    message = error_for(broken)
    i = index_of(policy, "refund_request")
    assert f"scenarios[{i}].response: invalid duration '{bad}'" in message


def test_bad_priority_duration_names_the_key(text: str) -> None:
    broken = text.replace('response = "1h"\nindicator', 'response = "an hour"\nindicator', 1)
    assert "priorities.P1.response: invalid duration 'an hour'" in error_for(broken)


def test_bad_modifier_names_the_key(text: str) -> None:
    broken = text.replace('premium_problem_min = "P1"', 'premium_problem_min = "P9"')
    assert "modifiers.premium_problem_min: unknown priority 'P9'" in error_for(broken)


def test_unknown_key_in_a_scenario_lists_the_allowed_keys(policy: Policy, text: str) -> None:
    broken = in_scenario(text, "site_down", 'team = "engineering"', 'tem = "engineering"')
    message = error_for(broken)
    i = index_of(policy, "site_down")
    assert f"scenarios[{i}].tem: unknown key 'tem' (allowed: id, label, team," in message
    assert "did you mean 'team'?" in message


def test_unknown_top_level_section_is_refused(text: str) -> None:
    message = error_for(text + "\n[modifers]\npremium_problem_min = 'P1'\n")
    assert "modifers: unknown key 'modifers'" in message


def test_unknown_key_in_a_team_is_refused(text: str) -> None:
    broken = text.replace('display_name = "Billing Team"', 'displayname = "Billing Team"')
    message = error_for(broken)
    assert "teams.billing." in message


def test_several_users_pointing_at_a_missing_scenario_names_the_key(
    policy: Policy, text: str
) -> None:
    broken = in_scenario(
        text,
        "payment_failure",
        'several_users = "payment_processing_broken"',
        'several_users = "payments_broken"',
    )
    message = error_for(broken)
    i = index_of(policy, "payment_failure")
    assert f"scenarios[{i}].several_users: unknown scenario 'payments_broken'" in message


def test_several_users_must_point_at_a_p0_row(policy: Policy, text: str) -> None:
    broken = in_scenario(
        text,
        "payment_failure",
        'several_users = "payment_processing_broken"',
        'several_users = "payment_dispute"',
    )
    message = error_for(broken)
    assert "several_users: 'payment_dispute' is P1, not a P0 row" in message


def test_duplicate_scenario_id_names_both(policy: Policy, text: str) -> None:
    broken = in_scenario(text, "bug_report", 'id = "bug_report"', 'id = "feature_broken"')
    message = error_for(broken)
    first, second = index_of(policy, "feature_broken"), index_of(policy, "bug_report")
    assert f"scenarios[{second}].id: duplicate scenario id 'feature_broken'" in message
    assert f"scenarios[{first}]" in message


def test_duplicate_category_names_the_key(policy: Policy, text: str) -> None:
    broken = in_scenario(text, "refund_request", '"refund", ', '"refund", "Bug", ')
    message = error_for(broken)
    i = index_of(policy, "refund_request")
    assert f"scenarios[{i}].categories[1]: category 'Bug' already maps to" in message
    assert "scenario 'bug_report'" in message


def test_invalid_regex_names_the_signal(policy: Policy, text: str) -> None:
    broken = in_scenario(text, "bug_report", "'bugs?',", "'bugs?(',")
    message = error_for(broken)
    i = index_of(policy, "bug_report")
    assert f"scenarios[{i}].signals[0]: invalid regular expression 'bugs?('" in message


def test_invalid_regex_in_time_patterns_names_the_key(text: str) -> None:
    broken = text.replace("'tonight',", "'tonight[',", 1)
    assert "time_sensitivity.strong_times[2]: invalid regular expression" in error_for(broken)


def test_unknown_vocabulary_word_names_the_signal(policy: Policy, text: str) -> None:
    broken = in_scenario(text, "bug_report", "'bugs?',", "'@bugz',")
    message = error_for(broken)
    assert f"scenarios[{index_of(policy, 'bug_report')}].signals[0]" in message
    assert "unknown vocabulary word '@bugz'" in message


def test_pattern_matching_empty_text_is_refused(policy: Policy, text: str) -> None:
    broken = in_scenario(text, "bug_report", "'bugs?',", "'(?:bug)?',")
    assert "matches empty text" in error_for(broken)


def test_missing_priority_row_names_it(text: str) -> None:
    broken = re.sub(r"\[priorities\.P2\]\n(?:.+\n)+", "", text, count=1)
    assert "priorities.P2: missing" in error_for(broken)


def test_bad_team_email_names_the_key(text: str) -> None:
    broken = text.replace('email = "billing@photovault.example"', 'email = "billing-at-example"')
    assert "teams.billing.email: is not an email address" in error_for(broken)


def test_webhook_channel_needs_a_url(text: str) -> None:
    broken = text.replace(
        'email = "legal@photovault.example"\nmanager_email = "general-counsel@photovault.example"'
        '\nchannels = ["email"]',
        'email = "legal@photovault.example"\nmanager_email = "general-counsel@photovault.example"'
        '\nchannels = ["email", "webhook"]',
    )
    assert "teams.legal.webhook_url: required when channels include webhook" in error_for(broken)


def test_unknown_channel_is_refused(text: str) -> None:
    broken = text.replace('channels = ["email"]', 'channels = ["pager"]', 1)
    assert "teams.engineering.channels[0]" in error_for(broken)


def test_bad_scenario_kind_names_the_key(policy: Policy, text: str) -> None:
    broken = in_scenario(text, "site_down", 'kind = "problem"', 'kind = "incident"')
    assert f"scenarios[{index_of(policy, 'site_down')}].kind" in error_for(broken)


def test_unknown_fallback_scenario_names_the_key(text: str) -> None:
    broken = text.replace(
        'fallback_scenario = "general_inquiry"', 'fallback_scenario = "general_enquiry"'
    )
    assert "defaults.fallback_scenario: unknown scenario 'general_enquiry'" in error_for(broken)


def test_broken_playbook_template_names_the_line(policy: Policy, text: str) -> None:
    broken = in_scenario(
        text, "bug_report", "and ticket {{ ticket.id }}", "and ticket {{ ticket.id }"
    )
    message = error_for(broken)
    assert f"scenarios[{index_of(policy, 'bug_report')}].playbook[1]: invalid template" in message


def test_playbook_with_unknown_variable_names_the_line(policy: Policy, text: str) -> None:
    broken = in_scenario(text, "bug_report", "{{ ticket.id }}", "{{ tiket.id }}")
    message = error_for(broken)
    assert "playbook[1]: unknown variable 'tiket'" in message


def test_invalid_toml_is_one_message(text: str) -> None:
    message = error_for(text.replace('label = "Critical"', 'label = "Critical'))
    assert message.startswith(f"{SOURCE}: invalid TOML:")


def test_missing_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy"):
        load_policy(tmp_path / "nope.toml")


def test_load_policy_names_the_file_it_read(tmp_path: Path, text: str) -> None:
    path = tmp_path / "custom.toml"
    broken = anchored(text, CONFIG).replace('priority = "P0"', 'priority = "P5"', 1)
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(caught.value).startswith(f"{path}: scenarios[0].priority")


def test_edited_policy_changes_routing(text: str) -> None:
    edited = in_scenario(text, "refund_request", 'team = "billing"', 'team = "customer_success"')
    policy = parse_policy(edited, SOURCE, CONFIG)
    assert policy.scenario("refund_request").team == "customer_success"


def test_domain_modules_import_without_loading_vader_or_jinja() -> None:
    """escalation/ runs inside the Temporal workflow sandbox: importing it must stay pure."""
    import subprocess
    import sys

    code = (
        "import sys, escalation.policy, escalation.triage, escalation.sentiment;"
        "print(sorted(m for m in ('vaderSentiment', 'jinja2') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
