// Vietnamese search without diacritics: "phong chong bao" must find "phòng chống bão".
/** Lowercase ASCII: combining marks removed, đ → d, whitespace collapsed. */
export function fold(text: string): string {
  return text.normalize('NFD').replace(/\p{M}/gu, '').replace(/[đĐ]/g, 'd').toLowerCase().replace(/\s+/g, ' ').trim();
}

export const searchTextOf = (item: { title: string; description?: string; tags?: string[] }) =>
  fold([item.title, item.description ?? '', ...(item.tags ?? [])].join(' '));
