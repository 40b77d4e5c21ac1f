"""Policy search: the cheapest mix of levers that reaches a target, and a choice robust to our assumptions.

    from sim.policy import make_problem, optimize, build_report, fig_frontier
    from sim.policy import parse_lever, parse_objective, parse_constraint

    problem = make_problem("scenarios/crackdown_2025.toml",
                           [parse_lever("customs.CN.capacity_per_week=200:3000:int")],
                           [parse_objective("enforcement_cost_usd:min"), parse_objective("illicit_delivered_t:min")],
                           [parse_constraint("illicit_delivered_t<=0.5x")], replicates=4)
    study = optimize(problem, "results/crackdown_2025/optimize-1", budget=60)
    report = build_report(problem, study)      # candidates, frontier, cheapest, robust, answer

optuna (the `optimize` extra) is imported only when a search runs. See docs/policy-search.md.
"""

from sim.policy.charts import draw_frontier, fig_frontier
from sim.policy.frontier import Report, build_report, load_report, non_dominated, write_report
from sim.policy.levers import Constraint, Lever, Objective, parse_constraint, parse_lever, parse_objective
from sim.policy.robust import robust_choice, worst_decile
from sim.policy.search import Problem, make_problem, optimize

__all__ = ["Constraint", "Lever", "Objective", "Problem", "Report", "build_report", "draw_frontier", "fig_frontier",
           "load_report", "make_problem", "non_dominated", "optimize", "parse_constraint", "parse_lever",
           "parse_objective", "robust_choice", "worst_decile", "write_report"]
