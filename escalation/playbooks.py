"""Playbooks: a scenario's suggested actions, Jinja2 lines filled in from the escalation package.

Jinja2 is imported only inside these functions: the domain modules run in the workflow sandbox,
and only activities and the policy loader render or check playbooks.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from escalation.policy import PolicyError

if TYPE_CHECKING:
    from escalation.models import EscalationPackage
    from escalation.policy import Policy

PLAYBOOK_VARIABLES = ("ticket", "customer", "history", "technical")


def _environment() -> Any:
    """Playbooks come from a config file: rendered sandboxed, missing values read as blank."""
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        undefined=jinja2.ChainableUndefined, autoescape=False, keep_trailing_newline=False
    )


def _sample_package() -> EscalationPackage:
    from escalation.models import EscalationPackage

    return EscalationPackage.model_validate(
        {
            "ticket": {
                "id": "T-1",
                "subject": "sample",
                "urgency": "low",
                "createdAt": "2024-01-01T00:00:00Z",
                "customerEmail": "sample@example.com",
            },
            "customer": {},
            "history": {},
            "technicalContext": {},
        }
    )


def _check_playbooks(policy: Policy) -> None:
    """Each playbook line must parse, use only the package's parts and render without values."""
    try:
        import jinja2
        from jinja2 import meta
    except ImportError:  # pragma: no cover - jinja2 is a project dependency
        return
    env = _environment()
    sample = _sample_package()
    for i, scenario in enumerate(policy.scenarios):
        for j, line in enumerate(scenario.playbook):
            path = f"scenarios[{i}].playbook[{j}]"
            try:
                parsed = env.parse(line)
            except jinja2.TemplateSyntaxError as error:
                raise PolicyError(path, f"invalid template: {error.message}") from None
            unknown = sorted(meta.find_undeclared_variables(parsed) - set(PLAYBOOK_VARIABLES))
            if unknown:
                raise PolicyError(
                    path,
                    f"unknown variable {unknown[0]!r} (use {', '.join(PLAYBOOK_VARIABLES)})",
                )
            try:
                env.from_string(line).render(_playbook_context(sample))
            except Exception as error:
                raise PolicyError(path, f"template fails on missing values: {error}") from None


def _playbook_context(package: EscalationPackage) -> dict[str, Any]:
    return {
        "ticket": package.ticket,
        "customer": package.customer,
        "history": package.history,
        "technical": package.technical_context,
    }


@functools.lru_cache(maxsize=1024)
def _playbook_template(line: str) -> Any:
    """Compiled once per distinct playbook line (compiling per ticket cost 5% of a worker)."""
    return _environment().from_string(line)


def render_playbook(policy: Policy, scenario_id: str, package: EscalationPackage) -> list[str]:
    """The scenario's suggested actions filled in from the package (for the agent summary)."""
    context = _playbook_context(package)
    lines = []
    for line in policy.scenario(scenario_id).playbook:
        rendered = " ".join(_playbook_template(line).render(context).split())
        if rendered:
            lines.append(rendered)
    return lines
