"""Scopecraft task files: parse, normalise, find, update and create them.

The pieces:

- `TaskDocument` (from `parse_document()`, `read_document()` or
  `new_task_document()`) holds one file so that it renders back byte for byte, and changes
  only what it is told to (`TaskDocument.set_status()`, `TaskDocument.append_log()`).
- `TaskStore` finds the tasks of a tasks folder in the repository or central layout and
  turns them into `Task` values with normalised fields.
- `update_task_file()` and `write_task()` write files atomically; `parse_task_bytes()`
  reads a copy that is not on disk (a branch's, from git) with the same bounds.
- `normalize_status()`, `normalize_type()` and `normalize_priority()` map the many
  spellings found in real files to Scopecraft's canonical values.
"""

from __future__ import annotations

from scopecraft.tasks._document import (
    REQUIRED_KEYS,
    Section,
    TaskDocument,
    format_log_entry,
    new_task_document,
    parse_document,
)
from scopecraft.tasks._files import (
    parse_task_bytes,
    read_document,
    update_task_file,
    write_task,
)
from scopecraft.tasks._identity import (
    GENERATED_TASK_ID_PATTERN,
    TASK_FILE_SUFFIX,
    TASK_ID_PATTERN,
    central_tasks_dir,
    encode_project_path,
    is_task_id,
    name_from_title,
    subtask_sequence,
    validate_task_id,
)
from scopecraft.tasks._normalize import (
    TaskStatus,
    TaskType,
    normalize_priority,
    normalize_status,
    normalize_tags,
    normalize_type,
)
from scopecraft.tasks._store import TaskLayout, TaskProblem, TaskStore, default_home

__all__ = [
    "GENERATED_TASK_ID_PATTERN",
    "REQUIRED_KEYS",
    "TASK_FILE_SUFFIX",
    "TASK_ID_PATTERN",
    "Section",
    "TaskDocument",
    "TaskLayout",
    "TaskProblem",
    "TaskStatus",
    "TaskStore",
    "TaskType",
    "central_tasks_dir",
    "default_home",
    "encode_project_path",
    "format_log_entry",
    "is_task_id",
    "name_from_title",
    "new_task_document",
    "normalize_priority",
    "normalize_status",
    "normalize_tags",
    "normalize_type",
    "parse_document",
    "parse_task_bytes",
    "read_document",
    "subtask_sequence",
    "update_task_file",
    "validate_task_id",
    "write_task",
]
