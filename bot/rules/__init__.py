"""The rules file: format, validation with line numbers, and the validated model."""

from bot.rules.loader import check_rules, load_rules, parse_rules
from bot.rules.model import Problem, RulesError, RuleSet

__all__ = ["Problem", "RuleSet", "RulesError", "check_rules", "load_rules", "parse_rules"]
