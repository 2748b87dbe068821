/** The `{"data": …}` envelope of every single-object response of the Platform API. */
export function envelope<T>(data: T): { data: T } {
  return { data };
}
