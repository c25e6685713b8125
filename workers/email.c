/* Email through libesmtp (work in progress: filled in by the next commit). */
