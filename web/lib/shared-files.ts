// Files another app sends to Mycel through the system's share sheet (the web manifest's
// share_target). The sheet POSTs them as a form to SHARE_ACTION; the service worker keeps them in
// a cache under a fresh id and answers with a redirect to the app, which takes them from there and
// adds them as if they were picked. The files and their names are whatever the sending app says:
// their count is bounded here, their names checked by the same rules as any picked file's.

/** A shared file as the app adds it (the shape of collection-peer.ts's PickedFile, which pulls in
 * the network layer the worker does not have). */
export interface SharedFile {
  readonly file: File;
  readonly path: string;
}

/** Where the share sheet posts (vite.config.ts names it in the manifest). */
export const SHARE_ACTION = '/share-target';
/** The form field that carries the files. */
export const SHARE_FIELD = 'files';
/** The app's query parameter naming a share waiting in the cache. */
export const SHARE_PARAM = 'shared';
const SHARE_CACHE = 'mycel-shared';
const NAME_HEADER = 'x-mycel-name';
/** Most files one share may carry; more is refused whole. */
export const MAX_SHARED_FILES = 1_000;

const isShareId = (id: string) => /^[0-9a-f-]{36}$/.test(id);
const keyOf = (origin: string, id: string, index: number) => `${origin}/mycel-shared/${id}/${index}`;

/**
 * In the service worker: keeps the shared files and answers with where the app takes them. A share
 * without files, or with too many, opens the app and says so.
 */
export async function receiveShare(request: Request, caches: CacheStorage, origin: string): Promise<Response> {
  const form = await request.formData().catch(() => undefined);
  const files = (form?.getAll(SHARE_FIELD) ?? []).filter((f): f is File => f instanceof File);
  if (files.length === 0 || files.length > MAX_SHARED_FILES) {
    return Response.redirect(`${origin}/?${SHARE_PARAM}=refused`, 303);
  }
  const id = crypto.randomUUID();
  const cache = await caches.open(SHARE_CACHE);
  await Promise.all(
    files.map((file, i) =>
      cache.put(
        keyOf(origin, id, i),
        new Response(file, {
          headers: {
            'content-type': file.type || 'application/octet-stream',
            [NAME_HEADER]: encodeURIComponent(file.name || `shared-${i + 1}`),
          },
        }),
      ),
    ),
  );
  return Response.redirect(`${origin}/?${SHARE_PARAM}=${id}`, 303);
}

/** In the page: the files of share `id`, taken out of the cache (each is taken once). */
export async function takeShared(id: string, origin = location.origin): Promise<SharedFile[]> {
  if (!isShareId(id) || typeof caches === 'undefined') return [];
  const cache = await caches.open(SHARE_CACHE);
  const picked: SharedFile[] = [];
  for (let i = 0; i < MAX_SHARED_FILES; i++) {
    const key = keyOf(origin, id, i);
    const response = await cache.match(key);
    if (!response) break;
    const name = decodeURIComponent(response.headers.get(NAME_HEADER) ?? `shared-${i + 1}`);
    const blob = await response.blob();
    picked.push({ file: new File([blob], name, { type: blob.type }), path: name });
    await cache.delete(key);
  }
  return picked;
}
