/** The next `n` items of an iterator (fewer at its end), leaving the rest to be read. */
export async function take<T>(iterator: AsyncIterator<T>, n: number): Promise<T[]> {
  const items: T[] = [];
  while (items.length < n) {
    const next = await iterator.next();
    if (next.done) break;
    items.push(next.value);
  }
  return items;
}
