# A grading worker (or scheduler) for `python -m dgm_staff.grade_class --scheduler tcp://HOST:PORT`:
# the course environment of environment.yml, the course itself, and `dask worker` as the command.
#
#   docker build -t dgm-grader .
#   docker run --rm dgm-grader dask worker tcp://SCHEDULER:8786 --nthreads 1 --no-dashboard
#
# The grading kernels' sandbox needs unprivileged user namespaces; where the container runtime
# forbids them, kernels run unconfined (see README, "Sandbox"), or add
# `--security-opt seccomp=unconfined` to `docker run`. Untested: this recipe has not been built.
FROM mambaorg/micromamba:1.5-jammy
COPY --chown=$MAMBA_USER:$MAMBA_USER environment.yml constraints.txt pyproject.toml /course/
WORKDIR /course
# the environment without the editable install of the course (its sources are not copied yet)
RUN grep -v -- "- -e \." environment.yml | grep -v -- "--no-deps" > /tmp/env.yml \
    && micromamba install -y -n base -f /tmp/env.yml && micromamba clean -a -y
COPY --chown=$MAMBA_USER:$MAMBA_USER . /course
ARG MAMBA_DOCKERFILE_ACTIVATE=1
RUN pip install --no-deps -e . && python -m dgm.data
ENV DGM_BUDGET=smoke OMP_NUM_THREADS=1
CMD ["dask", "worker", "--help"]
