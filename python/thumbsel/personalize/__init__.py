"""Personalisation: choosing which artwork each viewer sees, and judging that choice offline.

The layout follows the loop a service runs:

- :mod:`.features`: what a policy sees, viewer features x image attributes;
- :mod:`.policies`: policies that choose an image per impression and learn
  from rewards (uniform, epsilon-greedy, softmax, LinUCB, linear Thompson);
- :mod:`.log`: the impression log (Parquet) and the join of delayed plays;
- :mod:`.ope` and :mod:`.evaluate`: off-policy estimates of a new policy's
  reward on logged traffic;
- :mod:`.simulator`: viewers with known tastes, to test all of the above.
"""

from thumbsel.personalize import ope
from thumbsel.personalize.evaluate import LoggedFeedback, OffPolicyReport, evaluate
from thumbsel.personalize.features import (
    IMAGE_ATTRIBUTES,
    FeatureSpace,
    attributes_from_tags,
    viewer_context,
)
from thumbsel.personalize.log import (
    Impression,
    ImpressionLogError,
    join_rewards,
    logged_feedback,
    read_impressions,
    write_impressions,
)
from thumbsel.personalize.policies import (
    POLICIES,
    Choice,
    EpsilonGreedy,
    LinearThompson,
    LinUCB,
    Policy,
    Softmax,
    UniformRandom,
    load_policy,
)
from thumbsel.personalize.simulator import Segment, Simulator, compare_policies

__all__ = [
    "IMAGE_ATTRIBUTES",
    "POLICIES",
    "Choice",
    "EpsilonGreedy",
    "FeatureSpace",
    "Impression",
    "ImpressionLogError",
    "LinUCB",
    "LinearThompson",
    "LoggedFeedback",
    "OffPolicyReport",
    "Policy",
    "Segment",
    "Simulator",
    "Softmax",
    "UniformRandom",
    "attributes_from_tags",
    "compare_policies",
    "evaluate",
    "join_rewards",
    "load_policy",
    "logged_feedback",
    "ope",
    "read_impressions",
    "viewer_context",
    "write_impressions",
]
