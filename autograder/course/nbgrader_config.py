"""nbgrader configuration of a grading folder made by ``labs release`` or ``labs grade``.

``labs grade`` copies this file into its output folder, which is then an
ordinary nbgrader course: ``nbgrader export``, ``nbgrader generate_feedback``
and the formgrader work there as usual. Paths are relative to this file.
"""

import os

from autograder.build import CODE_STUB, TEXT_STUB
from autograder.settings import DEFAULT_CELL_TIMEOUT

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads the file)

here = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.root = here
c.CourseDirectory.course_id = "intro-deep-learning-labs"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(here, "gradebook.db")
c.GenerateAssignment.create_assignment = True
# The same stubs as `labs build` writes, so released and committed student versions agree.
c.ClearSolutions.code_stub = {"python": CODE_STUB}
c.ClearSolutions.text_stub = TEXT_STUB
# Warnings on stderr (TensorFlow, Keras) must not cost points; only errors do.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r".*(Warning|W0000|I0000|E0000).*"
c.Execute.timeout = int(DEFAULT_CELL_TIMEOUT)
c.Execute.interrupt_on_timeout = True
c.LimitOutput.max_lines = 1000
