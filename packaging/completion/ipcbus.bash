# SPDX-License-Identifier: Apache-2.0
# bash completion for ipcbus: commands, each command's options, and topic names (asked of
# the domain's daemon, never starting one).
_ipcbus_topics() {
  IPCBUS_NO_AUTOSTART=1 ipcbus topics --json "$@" 2>/dev/null |
    grep -o '"name":"[^"]*"' | sed 's/"name":"\(.*\)"/\1/'
}

_ipcbus() {
  local cur prev command i
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD-1]}
  local commands="topics info pub echo hz perf doctor"
  command=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      --domain) ((i++)) ;;
      -*) ;;
      *) command=${COMP_WORDS[i]}; break ;;
    esac
  done
  if [ "$prev" = --domain ]; then
    return 0  # a domain name: nothing to offer
  fi
  local options="--help --domain"
  case $command in
    "") COMPREPLY=($(compgen -W "$commands --help --version --domain" -- "$cur")); return 0 ;;
    topics) options+=" --json" ;;
    info) options+=" --json -v --verbose" ;;
    pub) options+=" --count --rate --size --wait-subscribers --timeout --quiet --json --reliable" ;;
    echo) options+=" --count --json --group --history --reliable --text --hex --raw --no-payload --max-bytes" ;;
    hz) options+=" --window --count --json" ;;
    perf) options+=" --count --size --subscribers --rate --json" ;;
    doctor) options+=" --json" ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$options" -- "$cur"))
  elif [[ $command =~ ^(info|pub|echo|hz)$ ]]; then
    COMPREPLY=($(compgen -W "$(_ipcbus_topics)" -- "$cur"))
  fi
}
complete -F _ipcbus ipcbus
