"""``scopecraft doctor``: is this machine and this repository ready to run sessions?

`run_doctor()` returns one `DoctorCheck` per fact (git, the repository, its tasks,
Docker, tmux, each agent CLI, the home folder, the store), each with a status and, when the
status is not ``ok``, the fix in words a person can act on. Nothing is changed: no folder or
store is created, no task file written, no image pulled. The checks block (git, docker-py,
the agents' ``--version`` and ``--help``): from async code, call it in a worker thread
(``anyio.to_thread.run_sync``).

What is *needed* fails (``fail``): git 2.31 or newer, a git repository with a commit, a home
folder that is (or can be made) writable, a store that opens. Docker, tmux and the agent CLIs
are optional (``warn``) unless named in ``require``: autonomous and planning sessions need
Docker unless they run on the ``local`` executor, interactive and dispatch sessions need tmux,
and a session needs the CLI of its own agent.
"""

from ._checkup import OPTIONAL_BACKENDS, run_doctor
from ._model import DoctorCheck, DoctorStatus, doctor_failed
from ._repository import MIN_GIT_VERSION

__all__ = [
    "MIN_GIT_VERSION",
    "OPTIONAL_BACKENDS",
    "DoctorCheck",
    "DoctorStatus",
    "doctor_failed",
    "run_doctor",
]
