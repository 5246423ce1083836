# Sourced by Herd's scripts: finds a JDK 25 or newer and exports JAVA_HOME.
# Order: $JAVA_HOME if it is 25+, then JDKs under /usr/lib/jvm and /opt, then `java` on the PATH.
herd_java_major() {
  "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p' | head -1
}
herd_find_jdk() {
  local c major
  for c in "${JAVA_HOME:-}" /usr/lib/jvm/* /opt/java/* /opt/jdk* "$(dirname "$(dirname "$(readlink -f "$(command -v java 2>/dev/null || echo /nonexistent)")")")"; do
    [ -n "$c" ] && [ -x "$c/bin/java" ] && [ -x "$c/bin/javac" ] || continue
    major=$(herd_java_major "$c")
    if [ -n "$major" ] && [ "$major" -ge 25 ]; then echo "$c"; return 0; fi
  done
  return 1
}
if ! HERD_JDK=$(herd_find_jdk); then
  echo "herd: no JDK 25 or newer found (looked at \$JAVA_HOME, /usr/lib/jvm/*, /opt and the java on the PATH)." >&2
  echo "herd: install one (e.g. Temurin 25) or point JAVA_HOME at it." >&2
  exit 1
fi
export JAVA_HOME="$HERD_JDK"
export PATH="$JAVA_HOME/bin:$PATH"
