"""Contract test suites, one module per protocol, for plugin authors and for our own tests.

Each module holds a base class (``StorageContract`` in `.storage`, ``AgentContract`` in
`.agents`, ``ExecutorContract`` in `.executors`, ``QueuePolicyContract`` in `.policies`,
``WorktreeOrchestratorContract`` in `.worktrees`) whose test methods take fixtures that the
subclass provides.
"""
