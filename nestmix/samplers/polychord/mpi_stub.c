/*
 * A single-process MPI (rank 0 of 1) with exactly the symbols PolyChord's libchord imports.
 *
 * Part of nestmix (MIT licence). The official pypolychord 1.15.1 wheel bundles an OpenMPI 2.1
 * that cannot start without its plugins; nestmix compiles this file under the file names of
 * the wheel's three libmpi* libraries so that libchord links against it instead. With one
 * process every collective is a copy or a no-op, and point-to-point calls are never made.
 *
 * Fortran handles (OpenMPI 2.1 mpif.h): MPI_COMM_WORLD = 0; libchord 1.15.1 passes the
 * datatypes MPI_INTEGER = 7 and MPI_DOUBLE_PRECISION = 17 (seen with the trace below); a few
 * other fixed-size types are accepted, anything else aborts with a message. Reduction
 * operations are irrelevant with one process. Set NESTMIX_MPI_STUB_TRACE=1 to print every
 * datatype handle seen.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int MPI_Fint;
typedef void *MPI_Comm;

/* OpenMPI's C MPI_COMM_WORLD is the address of this object (a padded struct in OpenMPI). */
char ompi_mpi_comm_world[512];

static int stub_initialized = 0;
static int stub_finalized = 0;

static void stub_fail(const char *what)
{
    fprintf(stderr, "nestmix MPI stub: %s\n", what);
    fflush(stderr);
    abort();
}

static size_t type_size(MPI_Fint datatype)
{
    if (getenv("NESTMIX_MPI_STUB_TRACE"))
        fprintf(stderr, "nestmix MPI stub: datatype handle %d\n", (int)datatype);
    switch (datatype) {
    case 1: return 1;   /* MPI_BYTE */
    case 5: return 1;   /* MPI_CHARACTER */
    case 6: return 4;   /* MPI_LOGICAL (default kind) */
    case 7: return 4;   /* MPI_INTEGER (default kind) */
    case 13: return 4;  /* MPI_REAL */
    case 15: return 8;  /* MPI_REAL8 */
    case 17: return 8;  /* MPI_DOUBLE_PRECISION */
    default: {
        char message[128];
        snprintf(message, sizeof message,
                 "unknown Fortran MPI datatype handle %d (only one process is supported)",
                 (int)datatype);
        stub_fail(message);
    }
    }
    return 0;
}

/* ------------------------------------------------------------------ C interface */
int MPI_Init(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    stub_initialized = 1;
    return 0;
}

int MPI_Initialized(int *flag)
{
    *flag = stub_initialized;
    return 0;
}

int MPI_Finalize(void)
{
    stub_finalized = 1;
    return 0;
}

MPI_Fint MPI_Comm_c2f(MPI_Comm comm)
{
    (void)comm;
    return 0; /* Fortran MPI_COMM_WORLD */
}

int MPI_Comm_dup(MPI_Comm comm, MPI_Comm *newcomm)
{
    *newcomm = comm;
    return 0;
}

/* ------------------------------------------------------------ Fortran interface */
void mpi_init_(MPI_Fint *ierr)
{
    stub_initialized = 1;
    *ierr = 0;
}

void mpi_initialized_(MPI_Fint *flag, MPI_Fint *ierr)
{
    *flag = stub_initialized; /* Fortran .true. is 1 for gfortran */
    *ierr = 0;
}

void mpi_finalize_(MPI_Fint *ierr)
{
    stub_finalized = 1;
    *ierr = 0;
}

void mpi_abort_(MPI_Fint *comm, MPI_Fint *errorcode, MPI_Fint *ierr)
{
    (void)comm;
    (void)ierr;
    fprintf(stderr, "nestmix MPI stub: MPI_ABORT called with error code %d\n", (int)*errorcode);
    fflush(stderr);
    fflush(stdout);
    exit(*errorcode ? (int)*errorcode : 1);
}

void mpi_comm_rank_(MPI_Fint *comm, MPI_Fint *rank, MPI_Fint *ierr)
{
    (void)comm;
    *rank = 0;
    *ierr = 0;
}

void mpi_comm_size_(MPI_Fint *comm, MPI_Fint *size, MPI_Fint *ierr)
{
    (void)comm;
    *size = 1;
    *ierr = 0;
}

void mpi_comm_split_(MPI_Fint *comm, MPI_Fint *color, MPI_Fint *key, MPI_Fint *newcomm,
                     MPI_Fint *ierr)
{
    (void)color;
    (void)key;
    *newcomm = *comm;
    *ierr = 0;
}

void mpi_barrier_(MPI_Fint *comm, MPI_Fint *ierr)
{
    (void)comm;
    *ierr = 0;
}

void mpi_bcast_(void *buffer, MPI_Fint *count, MPI_Fint *datatype, MPI_Fint *root,
                MPI_Fint *comm, MPI_Fint *ierr)
{
    (void)buffer;
    (void)count;
    (void)root;
    (void)comm;
    (void)type_size(*datatype);
    *ierr = 0;
}

void mpi_allreduce_(void *sendbuf, void *recvbuf, MPI_Fint *count, MPI_Fint *datatype,
                    MPI_Fint *op, MPI_Fint *comm, MPI_Fint *ierr)
{
    (void)op;
    (void)comm;
    size_t bytes = (size_t)(*count > 0 ? *count : 0) * type_size(*datatype);
    if (bytes && sendbuf != recvbuf)
        memmove(recvbuf, sendbuf, bytes);
    *ierr = 0;
}

void mpi_send_(void *buf, MPI_Fint *count, MPI_Fint *datatype, MPI_Fint *dest, MPI_Fint *tag,
               MPI_Fint *comm, MPI_Fint *ierr)
{
    (void)buf; (void)count; (void)datatype; (void)dest; (void)tag; (void)comm; (void)ierr;
    stub_fail("MPI_SEND called, but this MPI has a single process");
}

void mpi_recv_(void *buf, MPI_Fint *count, MPI_Fint *datatype, MPI_Fint *source, MPI_Fint *tag,
               MPI_Fint *comm, MPI_Fint *status, MPI_Fint *ierr)
{
    (void)buf; (void)count; (void)datatype; (void)source; (void)tag; (void)comm; (void)status;
    (void)ierr;
    stub_fail("MPI_RECV called, but this MPI has a single process");
}

double mpi_wtime_(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}
