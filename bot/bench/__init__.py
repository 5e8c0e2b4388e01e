"""`milwatch bench`: synthetic channel traffic, a large rule set, and the benchmark itself.

Nothing here is imported by the bot at run time; `bot.cli` imports `bot.bench.run` lazily.
"""

from bot.bench.corpus import generate_posts, write_jsonl
from bot.bench.large_rules import large_rules_yaml

__all__ = ["generate_posts", "large_rules_yaml", "write_jsonl"]
