"""`executor size`: run the full risk pipeline on one JSON scenario and print the decision as JSON.

Exit 0 whether the signal is accepted or rejected; exit 2 with a message naming the field when the
input (or the profile it names) is malformed.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import IO, NoReturn

import click

from executor.config.risk_profiles import load_profile
from executor.domain.redaction import redact_urls
from executor.domain.validation import prefixed
from executor.risk import ProfileError, decide
from executor.risk.derive import derive_state
from executor.risk.scenario import ScenarioError, parse_scenario

EXIT_BAD_INPUT = 2


def _fail(message: str) -> NoReturn:
    click.echo(redact_urls(prefixed("executor size", message)), err=True)
    sys.exit(EXIT_BAD_INPUT)


@click.command()
@click.option(
    "--input",
    "source",
    type=click.File("r", encoding="utf-8"),
    required=True,
    help="The scenario JSON file, or - for standard input.",
)
def size(source: IO[str]) -> None:
    """What would the risk engine do with this signal? Prints the decision and its step log.

    A scenario is one JSON object: profile, now, signal, account, market (docs/risk.md). The answer
    names the reference price the entry stands on (entry, price_source, price_age_ms), the price the
    order goes out at (order_price) and the slippage allowance counted in the risk. Four to start
    from, in the checkout:

    \b
      executor size --input examples/size/01-sol-long-accepted.json        # long 28.14 SOL at 5x
      executor size --input examples/size/02-sol-long-low-reward.json      # REWARD_RISK_TOO_LOW
      executor size --input examples/size/03-btc-short-after-the-days-loss.json   # HALTED
      executor size --input examples/size/04-btc-short-limit-through-the-market.json   # BAD_GEOMETRY

    Exit 0 whether accepted or rejected; 2 with one line per problem when the input is malformed.
    """
    try:
        data = json.loads(source.read(), parse_float=Decimal)
    except json.JSONDecodeError as exc:
        _fail(f"input is not valid JSON: {exc}")
    try:
        scenario = parse_scenario(data)
    except ScenarioError as exc:
        _fail(str(exc))
    try:
        profile = load_profile(scenario.profile)
    except ProfileError as exc:
        _fail(prefixed("profile", str(exc)))
    state = derive_state(scenario.account, profile, scenario.now)
    decision = decide(scenario.signal, scenario.account, scenario.market, profile, state, scenario.now)
    click.echo(json.dumps(decision.to_dict(), indent=2, ensure_ascii=False))
