# shellcheck shell=bash
# The Docker engine for the stack pass of `make test` (tests/stack). Source this file, then:
#   docker_start   # uses a running dockerd, else starts one (root only) and waits until it answers
#   docker_stop    # stops dockerd again, only if docker_start started it
# Images, volumes and the build cache live in dockerd's default data root (/var/lib/docker), so the
# stand-in base images built by scripts/stack-images.sh are kept between runs.

DOCKERD_PID=""
DOCKERD_LOG=""

docker_start() {
  if docker info >/dev/null 2>&1; then
    return 0
  fi
  if ! command -v dockerd >/dev/null 2>&1; then
    echo "docker: dockerd not found (make install installs Debian's docker.io)" >&2
    return 1
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "docker: no Docker engine is running and only root can start dockerd" >&2
    return 1
  fi
  DOCKERD_LOG="$(mktemp /tmp/shikaku-dockerd.XXXXXX.log)"
  dockerd >"$DOCKERD_LOG" 2>&1 &
  DOCKERD_PID=$!
  local i
  for i in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
      echo "docker: started dockerd (pid $DOCKERD_PID, log $DOCKERD_LOG)"
      return 0
    fi
    if ! kill -0 "$DOCKERD_PID" 2>/dev/null; then
      break
    fi
    sleep 1
  done
  echo "docker: dockerd did not come up within 60 s:" >&2
  tail -n 30 "$DOCKERD_LOG" >&2
  docker_stop
  return 1
}

docker_stop() {
  [ -n "$DOCKERD_PID" ] || return 0
  kill -TERM "$DOCKERD_PID" 2>/dev/null || true
  local i
  for i in $(seq 1 60); do
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$DOCKERD_PID" 2>/dev/null; then
    kill -KILL "$DOCKERD_PID" 2>/dev/null || true
  fi
  echo "docker: stopped dockerd (pid $DOCKERD_PID)"
  DOCKERD_PID=""
  rm -f "$DOCKERD_LOG"
}

# What a stack test left behind when it was cut off (time limit, ^C) before its own clean-up: its
# containers, volumes and networks (compose projects named shikakustack…) and its application images
# (shikaku-stacktest-…). Nothing else is touched; the cached stand-ins stay.
docker_remove_stack_leftovers() {
  docker info >/dev/null 2>&1 || return 0
  local projects
  projects="$(docker ps -a --format '{{.Label "com.docker.compose.project"}}' | grep '^shikakustack' | sort -u)"
  projects+=$'\n'"$(docker volume ls --format '{{.Label "com.docker.compose.project"}}' | grep '^shikakustack' | sort -u)"
  local project
  for project in $(printf '%s\n' "$projects" | sort -u); do
    echo "docker: removing what stack test project $project left behind"
    docker ps -aq --filter "label=com.docker.compose.project=$project" | xargs -r docker rm -f >/dev/null
    docker volume ls -q --filter "label=com.docker.compose.project=$project" | xargs -r docker volume rm >/dev/null
    docker network ls -q --filter "label=com.docker.compose.project=$project" | xargs -r docker network rm >/dev/null
  done
  docker image ls --format '{{.Repository}}:{{.Tag}}' | grep '^shikaku-stacktest-' | xargs -r docker image rm -f >/dev/null
  return 0
}
