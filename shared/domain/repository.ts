/** Where a pool's Triton model repository lives in Cloud Storage. */
export interface RepositoryLocation {
  bucket: string;
  /** Folder of the model repository inside the bucket, without slashes at either end ('' = root). */
  prefix: string;
}

export function modelDir(repo: RepositoryLocation, model: string): string {
  return repo.prefix ? `${repo.prefix}/${model}` : model;
}

export function repositoryUri(repo: RepositoryLocation): string {
  return `gs://${repo.bucket}${repo.prefix ? `/${repo.prefix}` : ''}`;
}
