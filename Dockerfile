# The grading image of `labs grade --sandbox container`: built by `labs grade --build-image`
# (tag intro-deep-learning-labs-grader:<package version>), never pulled at grading time.
# Student kernels run in it with no network, a read-only root file system and only their
# own folder mounted; it holds Python, this package with its base dependencies, and ipykernel.
FROM docker.io/library/python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /opt/intro-deep-learning-labs
COPY pyproject.toml README.md LICENSE ./
COPY labs ./labs
COPY labs_cli ./labs_cli
COPY autograder ./autograder
RUN pip install . "ipykernel>=6.29" \
    && python -c "import labs, labs.checks, ipykernel, numpy, tensorflow" \
    && rm -rf /opt/intro-deep-learning-labs

WORKDIR /
USER 65534:65534
CMD ["python", "-m", "ipykernel_launcher", "--help"]
