import pino, { type Logger } from "pino";
import type { LogLevel } from "./config.ts";

// Paths whose last segment is a bearer secret (embed and setup-link tokens).
// `/embed/api/…` and `/embed/assets/…` are the inbox's API and script, not tokens.
const SECRET_PATH = /^(\/(?:embed|setup)\/)(?!(?:api|assets)(?:[/?#]|$))([^/?#]+)/;

/** A request URL safe to log: secret path segments and secret-looking query values are masked. */
export function redactUrl(url: string): string {
  const [path = "", query] = url.split("?", 2);
  const safePath = path.replace(SECRET_PATH, "$1[redacted]");
  if (!query) return safePath;
  const params = new URLSearchParams(query);
  for (const key of [...params.keys()]) {
    if (/token|key|secret|signature|sig/i.test(key)) params.set(key, "[redacted]");
  }
  return `${safePath}?${params.toString()}`;
}

/** JSON logs to stdout (the server) or to another stream (the CLI logs to stderr). */
export function createLogger(
  level: LogLevel,
  destination: pino.DestinationStream = pino.destination(1),
): Logger {
  return pino(
    {
      level,
      redact: {
        paths: [
          "req.headers.authorization",
          'req.headers["x-api-key"]',
          'req.headers["x-hub-signature-256"]',
          "*.access_token",
          "*.secret_key",
          "*.api_key",
          "*.token",
        ],
        censor: "[redacted]",
      },
      serializers: {
        req: (req: { method: string; url: string; ip?: string; id?: string }) => ({
          method: req.method,
          url: redactUrl(req.url),
          ip: req.ip,
        }),
      },
    },
    destination,
  );
}
