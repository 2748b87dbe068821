// How many parameters a template send must carry, checked the way Meta checks them: one per
// distinct `{{1}}` / `{{name}}` placeholder of the text header and the body, one for a media
// header. Used by the sandbox (Meta's 132000 refusal) and by broadcasts (per-recipient errors).

type Component = Record<string, unknown>;

export interface ParameterMismatch {
  part: "header" | "body";
  expected: number;
  given: number;
}

function placeholders(text: unknown): number {
  return typeof text === "string" ? new Set(text.match(/\{\{\s*[\w.]+\s*\}\}/g) ?? []).size : 0;
}

/** How many parameters the template's `part` needs. */
export function expectedParameters(templateComponents: Component[], part: "header" | "body"): number {
  const component = templateComponents.find((c) => String(c.type).toLowerCase() === part);
  if (!component) return 0;
  if (part === "header" && String(component.format ?? "TEXT").toUpperCase() !== "TEXT") return 1;
  return placeholders(component.text);
}

/** The first part whose parameter count differs from the template's, if any. */
export function templateParameterMismatch(
  templateComponents: Component[],
  sent: Component[],
): ParameterMismatch | undefined {
  for (const part of ["header", "body"] as const) {
    const expected = expectedParameters(templateComponents, part);
    const given = sent.find((c) => String(c.type).toLowerCase() === part);
    const count = Array.isArray(given?.parameters) ? given.parameters.length : 0;
    if (count !== expected) return { part, expected, given: count };
  }
  return undefined;
}
