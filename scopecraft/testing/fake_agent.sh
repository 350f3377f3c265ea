#!/bin/sh
# fake-agent: a scripted stand-in for Claude Code, for tests of scopecraft and its plugins.
#
# It speaks Claude Code's `--output-format stream-json --verbose` (an init line, assistant
# messages, a final result line) and runs the directives found in its prompt, one per line:
#
#   fake: say TEXT          an assistant message
#   fake: write PATH TEXT   write TEXT and a newline to PATH under the working directory
#   fake: sleep SECONDS     wait
#   fake: cost USD          report cost (adds to the run's total)
#   fake: fail [EXIT]       end at once with is_error true and exit code EXIT (default 1)
#   fake: hang              never end on its own (until killed)
#   fake: echo-env NAME     an assistant message with the variable's value
#   fake: listen            read standard input until its end or a line `fake: exit`; each
#                           line becomes a message `heard: LINE` and is run if a directive
#
# A directive line may be indented and start with a `- ` list marker; other lines are
# ignored. Malformed directives are reported on standard error and skipped.
#
# Options: --print, --verbose, --output-format X, --model M, --dangerously-skip-permissions
# (accepted), --resume ID (keep that session id), --prompt-file PATH, or the prompt as an
# argument, else the prompt is read from standard input. --version and --help print and exit.
# FAKE_AGENT_STATE: a folder where session ids are recorded; resuming an id it does not hold
# fails like Claude Code does (an error result and exit code 1).
#
# Plain POSIX sh and busybox applets only (it runs in a FROM scratch image with busybox).

set -u

# In an image holding only the busybox binary, reach its applets through it.
if command -v busybox >/dev/null 2>&1; then
    for _applet in awk cat date mkdir sleep; do
        command -v "$_applet" >/dev/null 2>&1 || eval "$_applet() { busybox $_applet \"\$@\"; }"
    done
fi

_tab=$(printf '\t')
_cr=$(printf '\r')
_ws=" $_tab"

die_usage() {
    printf 'fake-agent: %s\n' "$1" >&2
    exit 2
}

# json_str TEXT: TEXT as a JSON string literal (quotes, backslashes and control characters
# escaped; other bytes as they are).
json_str() {
    printf '%s.' "$1" | LC_ALL=C awk '
        BEGIN {
            for (i = 1; i < 32; i++) esc[sprintf("%c", i)] = sprintf("\\u%04x", i)
            esc["\t"] = "\\t"; esc["\r"] = "\\r"; esc["\\"] = "\\\\"; esc["\""] = "\\\""
            out = ""
        }
        {
            line = ""
            n = length($0)
            for (i = 1; i <= n; i++) {
                c = substr($0, i, 1)
                if (c in esc) line = line esc[c]; else line = line c
            }
            out = (NR > 1) ? out "\\n" line : line
        }
        END { printf "\"%s\"", substr(out, 1, length(out) - 1) }'
}

new_uuid() {
    _u=""
    if [ -r /proc/sys/kernel/random/uuid ]; then
        IFS= read -r _u </proc/sys/kernel/random/uuid || _u=""
    fi
    if [ -z "$_u" ]; then
        _u=$(awk -v seed="$$" 'BEGIN {
            srand(); s = srand() + seed * 7919; srand(s)
            h = "0123456789abcdef"; out = ""
            for (i = 1; i <= 32; i++) {
                out = out substr(h, int(rand() * 16) + 1, 1)
                if (i == 8 || i == 12 || i == 16 || i == 20) out = out "-"
            }
            print out }')
    fi
    printf '%s' "$_u"
}

# is_number TEXT: a non-negative decimal number (digits with at most one dot).
is_number() {
    case $1 in
        '' | . | *[!0-9.]* | *.*.*) return 1 ;;
    esac
    return 0
}

# -- options -------------------------------------------------------------------------------

model=""
resume_id=""
prompt_file=""
prompt_arg=""
have_prompt_arg=0
permission_mode="default"

while [ $# -gt 0 ]; do
    case $1 in
        --print | -p | --verbose) shift ;;
        --dangerously-skip-permissions)
            permission_mode="bypassPermissions"
            shift
            ;;
        --output-format | --model | --resume | -r | --prompt-file)
            [ $# -ge 2 ] || die_usage "option $1 needs a value"
            case $1 in
                --model) model=$2 ;;
                --resume | -r) resume_id=$2 ;;
                --prompt-file) prompt_file=$2 ;;
            esac
            shift 2
            ;;
        --output-format=*) shift ;;
        --model=*)
            model=${1#--model=}
            shift
            ;;
        --)
            shift
            if [ $# -gt 0 ]; then
                prompt_arg="$*"
                have_prompt_arg=1
            fi
            break
            ;;
        --version)
            echo "fake-agent 1"
            exit 0
            ;;
        --help | -h)
            echo "usage: fake-agent [options] [PROMPT]"
            echo "options: --print --verbose --output-format FORMAT --model MODEL"
            echo "         --resume ID --prompt-file PATH --dangerously-skip-permissions"
            echo "         --version --help"
            exit 0
            ;;
        -*) die_usage "unknown option $1" ;;
        *)
            if [ "$have_prompt_arg" -eq 1 ]; then
                prompt_arg="$prompt_arg $1"
            else
                prompt_arg=$1
                have_prompt_arg=1
            fi
            shift
            ;;
    esac
done

# -- output --------------------------------------------------------------------------------

start_s=$(date +%s 2>/dev/null || echo 0)
run_id=$(new_uuid)
run_id=${run_id%%-*}
session_id=""
msg_count=0
tool_count=0
total_cost=0
turns=0

emit() {
    printf '%s\n' "$1"
}

# result IS_ERROR SUBTYPE TEXT: the final line.
result() {
    _end=$(date +%s 2>/dev/null || echo 0)
    _ms=$(((_end - start_s) * 1000))
    [ "$_ms" -ge 0 ] || _ms=0
    emit "{\"type\":\"result\",\"subtype\":\"$2\",\"is_error\":$1,\"duration_ms\":$_ms,\"num_turns\":$turns,\"result\":$(json_str "$3"),\"session_id\":$(json_str "$session_id"),\"total_cost_usd\":$total_cost}"
}

# assistant CONTENT_JSON: one assistant message with its own id.
assistant() {
    msg_count=$((msg_count + 1))
    turns=$((turns + 1))
    emit "{\"type\":\"assistant\",\"message\":{\"id\":\"msg_fake_${run_id}_$msg_count\",\"type\":\"message\",\"role\":\"assistant\",\"model\":$(json_str "${model:-fake}"),\"content\":[$1]},\"parent_tool_use_id\":null,\"session_id\":$(json_str "$session_id")}"
}

say() {
    assistant "{\"type\":\"text\",\"text\":$(json_str "$1")}"
}

# -- directives ----------------------------------------------------------------------------

do_write() {
    _path=${1%%[$_ws]*}
    _text=${1#"$_path"}
    _text=${_text#[$_ws]}
    tool_count=$((tool_count + 1))
    _tid="toolu_fake_${run_id}_$tool_count"
    assistant "{\"type\":\"tool_use\",\"id\":\"$_tid\",\"name\":\"Write\",\"input\":{\"file_path\":$(json_str "$PWD/$_path"),\"content\":$(json_str "$_text")}}"
    _err=""
    case $_path in
        '') _err="no path given" ;;
        /*) _err="absolute paths are refused" ;;
        .. | ../* | */.. | */../*) _err="paths with .. are refused" ;;
    esac
    if [ -z "$_err" ]; then
        case $_path in
            */*) mkdir -p -- "${_path%/*}" 2>/dev/null || _err="cannot create the folder of $_path" ;;
        esac
    fi
    if [ -z "$_err" ]; then
        printf '%s\n' "$_text" >"$_path" 2>/dev/null || _err="cannot write $_path"
    fi
    if [ -n "$_err" ]; then
        printf 'fake-agent: write %s: %s\n' "$_path" "$_err" >&2
        emit "{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":[{\"tool_use_id\":\"$_tid\",\"type\":\"tool_result\",\"content\":$(json_str "$_err"),\"is_error\":true}]},\"parent_tool_use_id\":null,\"session_id\":$(json_str "$session_id")}"
    else
        emit "{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":[{\"tool_use_id\":\"$_tid\",\"type\":\"tool_result\",\"content\":$(json_str "File created successfully at: $PWD/$_path")}]},\"parent_tool_use_id\":null,\"session_id\":$(json_str "$session_id")}"
    fi
}

do_cost() {
    if ! is_number "$1"; then
        printf 'fake-agent: cost needs a non-negative number, not %s\n' "$1" >&2
        return 0
    fi
    _usd=$(awk -v x="$1" 'BEGIN { printf "%.10g", x + 0 }')
    total_cost=$(awk -v a="$total_cost" -v x="$1" 'BEGIN { printf "%.10g", a + x }')
    emit "{\"type\":\"system\",\"subtype\":\"fake_cost\",\"usd\":$_usd,\"total_cost_usd\":$total_cost,\"session_id\":$(json_str "$session_id")}"
}

do_fail() {
    _code=${1:-1}
    case $_code in
        '' | *[!0-9]*) _code=1 ;;
    esac
    [ "$_code" -le 255 ] || _code=1
    result true error_during_execution "fake failure requested (exit code $_code)"
    exit "$_code"
}

do_echo_env() {
    case $1 in
        '' | [0-9]* | *[!A-Za-z0-9_]*)
            printf 'fake-agent: echo-env needs a variable name, not %s\n' "$1" >&2
            return 0
            ;;
    esac
    # The name is a checked identifier, so this indirect expansion runs nothing else.
    eval "_set=\${$1+set}"
    if [ -n "$_set" ]; then
        eval "_value=\${$1}"
        say "$_value"
    else
        say "($1 is not set)"
    fi
}

do_listen() {
    while :; do
        _heard=""
        if ! IFS= read -r _heard; then
            [ -n "$_heard" ] || break
        fi
        _heard=${_heard%"$_cr"}
        _trimmed=${_heard#"${_heard%%[!$_ws]*}"}
        _trimmed=${_trimmed%"${_trimmed##*[!$_ws]}"}
        case $_trimmed in
            "fake: exit" | "- fake: exit") break ;;
        esac
        say "heard: $_heard"
        run_line "$_heard" || :
    done
}

# run_line LINE: run LINE if it is a directive; returns 1 when it is not one.
run_line() {
    _line=${1%"$_cr"}
    _line=${_line#"${_line%%[!$_ws]*}"}
    case $_line in
        "- "*)
            _line=${_line#- }
            _line=${_line#"${_line%%[!$_ws]*}"}
            ;;
    esac
    case $_line in
        fake:*) _rest=${_line#fake:} ;;
        *) return 1 ;;
    esac
    _rest=${_rest#"${_rest%%[!$_ws]*}"}
    _verb=${_rest%%[$_ws]*}
    _args=${_rest#"$_verb"}
    _args=${_args#"${_args%%[!$_ws]*}"}
    case $_verb in
        say) say "$_args" ;;
        write) do_write "$_args" ;;
        sleep)
            _secs=${_args%%[$_ws]*}
            if is_number "$_secs"; then
                sleep "$_secs"
            else
                printf 'fake-agent: sleep needs a number of seconds, not %s\n' "$_args" >&2
            fi
            ;;
        cost) do_cost "${_args%%[$_ws]*}" ;;
        fail) do_fail "${_args%%[$_ws]*}" ;;
        hang)
            while :; do
                sleep 1
            done
            ;;
        echo-env) do_echo_env "${_args%%[$_ws]*}" ;;
        listen) do_listen ;;
        exit) ;;
        *) printf 'fake-agent: ignoring unknown directive: %s\n' "$_line" >&2 ;;
    esac
    return 0
}

# -- the run -------------------------------------------------------------------------------

state=${FAKE_AGENT_STATE:-}

if [ -n "$resume_id" ]; then
    case $resume_id in
        '' | [!A-Za-z0-9]* | *[!A-Za-z0-9._-]*)
            session_id=$(new_uuid)
            printf 'fake-agent: invalid session id to resume: %s\n' "$resume_id" >&2
            result true error_during_execution "Invalid session ID: $resume_id"
            exit 1
            ;;
    esac
    if [ -n "$state" ] && [ ! -f "$state/sessions/$resume_id" ]; then
        session_id=$(new_uuid)
        printf 'No conversation found with session ID: %s\n' "$resume_id" >&2
        result true error_during_execution "No conversation found with session ID: $resume_id"
        exit 1
    fi
    session_id=$resume_id
else
    session_id=$(new_uuid)
fi

if [ -n "$state" ]; then
    if mkdir -p -- "$state/sessions" 2>/dev/null; then
        printf 'run %s\n' "$run_id" >>"$state/sessions/$session_id" 2>/dev/null || :
    else
        printf 'fake-agent: cannot write to the state folder %s\n' "$state" >&2
    fi
fi

if [ -n "$prompt_file" ]; then
    if [ ! -r "$prompt_file" ]; then
        printf 'fake-agent: cannot read the prompt file %s\n' "$prompt_file" >&2
        result true error_during_execution "cannot read the prompt file $prompt_file"
        exit 1
    fi
    prompt=$(cat -- "$prompt_file")
elif [ "$have_prompt_arg" -eq 1 ]; then
    prompt=$prompt_arg
else
    prompt=$(cat)
fi

emit "{\"type\":\"system\",\"subtype\":\"init\",\"cwd\":$(json_str "$PWD"),\"session_id\":$(json_str "$session_id"),\"tools\":[\"Write\"],\"mcp_servers\":[],\"model\":$(json_str "${model:-fake}"),\"permissionMode\":\"$permission_mode\",\"apiKeySource\":\"none\"}"

# The prompt is read on descriptor 3, so that `listen` still reads standard input.
while IFS= read -r line <&3 || [ -n "$line" ]; do
    run_line "$line" || :
    line=""
done 3<<EOF
$prompt
EOF

result false success ""
exit 0
