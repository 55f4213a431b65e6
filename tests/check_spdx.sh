#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every tracked source, build and script file names its licence in its first lines
# (LICENSE: Apache-2.0). Usage: check_spdx.sh SOURCE_DIR
set -euo pipefail
cd "$1"
missing=()
while IFS= read -r file; do
  head -3 "$file" | grep -q 'SPDX-License-Identifier: Apache-2.0' || missing+=("$file")
done < <(git ls-files | grep -E '(\.(cpp|hpp|h|c|cmake|sh|py|awk)|CMakeLists\.txt|\.cmake\.in)$|^\.ci/run$')
if [ ${#missing[@]} -gt 0 ]; then
  echo "files without an SPDX-License-Identifier line: ${missing[*]}" >&2
  exit 1
fi
echo "every source file carries SPDX-License-Identifier: Apache-2.0"
