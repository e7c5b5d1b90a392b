"""The turn's types, below the assistant, the agents and the tools that share them: the turn
(what one reply may use, bound to the verified patient), its buttons and escalation requests,
and the dialogue state kept between messages."""
