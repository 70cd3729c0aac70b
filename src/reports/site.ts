export async function siteCommand(_o: unknown): Promise<number> { return 0; }
