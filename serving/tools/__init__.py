"""What the assistant can do in the clinic: actions over `PracticeBackend`, bound to the
verified patient of the turn, and their LangChain tool wrappers for the agents."""
