/*
 * platform.c — the engine hooks of the simulator's XS platform (see wim_sim_platform.h) and the
 * few services that need the engine's internals: loading the bundle, draining promise jobs,
 * crypto.getRandomValues on any integer typed array.
 *
 * Policy for the engine's aborts: JavaScript exceptions that escape a job or a host call are
 * printed and the device keeps running. Running out of memory once the firmware is loaded (the
 * budget is armed, see sim_memory_arm) is thrown as a RangeError("memory full") that the firmware
 * answers with CKR_DEVICE_MEMORY; running out of memory before that, or of stack or keys, is
 * fatal (printed, then exit SIM_EXIT_FATAL), as a reset would be on the device.
 */
#include "xsAll.h"
#include "xsScript.h"
#include "host.h"

void fxCreateMachinePlatform(txMachine *the)
{
	the->host = C_NULL;
	the->promiseJobs = 0;
	the->abortStatus = 0;
	the->waiterCondition = C_NULL;
	the->waiterData = C_NULL;
	the->waiterLink = C_NULL;
}

void fxDeleteMachinePlatform(txMachine *the)
{
	(void)the;
}

void fxQueuePromiseJobs(txMachine *the)
{
	the->promiseJobs = 1;
}

/*
 * The engine's memory. The budget itself is the engine's: main.c creates the machine with fixed
 * chunk and slot heaps (incremental 0), so the engine collects, compacts and then aborts with
 * XS_NOT_ENOUGH_MEMORY_EXIT exactly when the live data does not fit, as on the device. These hooks
 * only allocate what the engine asks for (and cap the total, so that a growable machine — the
 * measuring pass, --memory off or measure — cannot run until the OS kills the simulator).
 * Blocks are only released when the machine is deleted.
 */
#define SIM_HEAP_LIMIT ((size_t)256 * 1024 * 1024)
static size_t sim_heap_used;

static void *sim_heap_allocate(size_t size)
{
	void *p;
	if (size > SIM_HEAP_LIMIT - sim_heap_used)
		return C_NULL;
	p = c_malloc(size);
	if (p)
		sim_heap_used += size;
	return p;
}

void *fxAllocateChunks(txMachine *the, txSize size)
{
	(void)the;
	return size > 0 ? sim_heap_allocate((size_t)size) : C_NULL;
}

void fxFreeChunks(txMachine *the, void *chunks)
{
	(void)the;
	c_free(chunks);
}

txSlot *fxAllocateSlots(txMachine *the, txSize count)
{
	(void)the;
	return count > 0 ? sim_heap_allocate((size_t)count * sizeof(txSlot)) : C_NULL;
}

void fxFreeSlots(txMachine *the, void *slots)
{
	(void)the;
	c_free(slots);
}

/* ---- preload (see docs/simulator.md, "Preload") ----
 *
 * On the device, xsl runs the preloaded modules at build time and puts what they left in flash.
 * With preload, xsl freezes there (Moddable SDK 8.x, xs/tools/xslSlot.c, measured with the real
 * tools): every function, the prototype of every constructor, and every instance that cannot be
 * aliased — Map, Set, WeakMap, WeakSet, WeakRef, FinalizationRegistry, ArrayBuffer, DataView, typed
 * array, Promise, Proxy, RegExp. Every instance that ends up frozen is then petrified: the internal
 * state of its ArrayBuffer, Date, Map, RegExp, Set, WeakMap or WeakSet is read-only (a write throws
 * "read-only buffer", "read-only Map instance", ...). Plain objects, arrays and module variables stay
 * writable through XS aliases (copied into RAM on the first write). sim_preload_freeze does the same
 * to what is live when the firmware's main body starts, so that a write to preloaded state fails in
 * CI as it does on the device. */
static void sim_freeze_instance(txSlot *instance)
{
	txSlot *property;
	for (property = instance->next; property; property = property->next) {
		if (property->kind != XS_ACCESSOR_KIND)
			property->flag |= XS_DONT_SET_FLAG;
		property->flag |= XS_DONT_DELETE_FLAG;
	}
	instance->flag |= XS_DONT_PATCH_FLAG;
}

static int sim_is_frozen(txMachine *the, txSlot *instance)
{
	txSlot *property;
	if (!(instance->flag & XS_DONT_PATCH_FLAG))
		return 0;
	for (property = instance->next; property; property = property->next) {
		if (property->kind == XS_ARRAY_KIND && (property->flag & XS_INTERNAL_FLAG)) {
			txSlot *item = property->value.array.address;
			txIndex length = item ? fxGetIndexSize(the, property) : 0, i;
			for (i = 0; i < length; i++, item++)
				if ((item->kind != XS_ACCESSOR_KIND && !(item->flag & XS_DONT_SET_FLAG)) || !(item->flag & XS_DONT_DELETE_FLAG))
					return 0;
		}
		else if ((property->kind != XS_ACCESSOR_KIND && !(property->flag & XS_DONT_SET_FLAG)) || !(property->flag & XS_DONT_DELETE_FLAG))
			return 0;
	}
	return 1;
}

unsigned long sim_preload_freeze(txMachine *the)
{
	txSlot *heap, *slot, *limit, *internal, *property;
	unsigned long frozen = 0;
	for (heap = the->firstHeap; heap; heap = heap->next) {
		for (slot = heap + 1, limit = heap->value.reference; slot < limit; slot++) {
			if (slot->kind != XS_INSTANCE_KIND || !(internal = slot->next) || !(internal->flag & XS_INTERNAL_FLAG))
				continue;
			switch (internal->kind) {
			case XS_CODE_KIND: case XS_CODE_X_KIND: case XS_CALLBACK_KIND: case XS_CALLBACK_X_KIND:
				sim_freeze_instance(slot);
				if (slot->flag & XS_CAN_CONSTRUCT_FLAG)
					for (property = internal->next; property; property = property->next)
						if (property->ID == mxID(_prototype) && property->kind == XS_REFERENCE_KIND) {
							sim_freeze_instance(property->value.reference);
							break;
						}
				break;
			case XS_MAP_KIND: case XS_SET_KIND: case XS_WEAK_MAP_KIND: case XS_WEAK_SET_KIND: case XS_WEAK_REF_KIND:
			case XS_ARRAY_BUFFER_KIND: case XS_DATA_VIEW_KIND: case XS_TYPED_ARRAY_KIND:
			case XS_PROMISE_KIND: case XS_PROXY_KIND: case XS_REGEXP_KIND:
				sim_freeze_instance(slot);
				break;
			case XS_CLOSURE_KIND:
				if (internal->value.closure && internal->value.closure->kind == XS_FINALIZATION_REGISTRY_KIND)
					sim_freeze_instance(slot);
				break;
			default:
				break;
			}
		}
	}
	/* petrify every frozen instance (also those the firmware froze itself) */
	for (heap = the->firstHeap; heap; heap = heap->next) {
		for (slot = heap + 1, limit = heap->value.reference; slot < limit; slot++) {
			if (slot->kind != XS_INSTANCE_KIND || !sim_is_frozen(the, slot))
				continue;
			frozen++;
			for (property = slot->next; property && (property->flag & XS_INTERNAL_FLAG); property = property->next)
				switch (property->kind) {
				case XS_ARRAY_BUFFER_KIND: case XS_DATE_KIND: case XS_MAP_KIND: case XS_REGEXP_KIND:
				case XS_SET_KIND: case XS_WEAK_MAP_KIND: case XS_WEAK_SET_KIND:
					property->flag |= XS_DONT_SET_FLAG;
					break;
				default:
					break;
				}
		}
	}
	return frozen;
}

/* ---- the memory budget (see docs/simulator.md, "Memory") ---- */

static txSlot sim_memory_error;   /* the RangeError("memory full") thrown on exhaustion, frozen, rooted */
static int sim_memory_armed;
static unsigned long sim_memory_exhausted;
static int sim_memory_stopping;   /* the measuring pass stopped the bundle on purpose: do not report it */

void sim_memory_usage(sim_machine *the, sim_memory_counts *counts)
{
	counts->slots = (long)the->currentHeapCount;
	counts->chunks = (long)the->currentChunksSize;
	counts->heap_slots = (long)the->maximumHeapCount;
	counts->heap_chunks = (long)the->maximumChunksSize;
	counts->peak_slots = (long)the->peakHeapCount;
	counts->peak_chunks = (long)the->peakChunksSize;
	counts->exhausted = sim_memory_exhausted;
}

void sim_memory_live(sim_machine *the, sim_memory_counts *counts)
{
	fxCollect(the, XS_COMPACT_FLAG);
	sim_memory_usage(the, counts);
}

void sim_memory_arm(sim_machine *the, const void *error)
{
	(void)the;
	sim_memory_error = *(const txSlot *)error;
	sim_memory_armed = 1;
}

void sim_memory_stop(sim_machine *the)
{
	sim_memory_stopping = 1;
	mxUnknownError("wim-sim: the measuring pass stops here");
}

/* Prints mxException without letting a throwing toString escape. */
static void report_pending_exception(txMachine *the, const char *what)
{
	txSlot exception = mxException;
	mxException = mxUndefined;
	mxTry(the) {
		mxPush(exception);
		fprintf(stderr, "wim-sim: %s: %s\n", what, fxToString(the, the->stack));
		mxPop();
	}
	mxCatch(the) {
		fprintf(stderr, "wim-sim: %s (unprintable value)\n", what);
	}
	mxException = mxUndefined;
}

void fxAbort(txMachine *the, int status)
{
	const char *why;
	switch (status) {
	case XS_UNHANDLED_EXCEPTION_EXIT:
		report_pending_exception(the, "uncaught exception");
		return;
	case XS_UNHANDLED_REJECTION_EXIT:
		report_pending_exception(the, "unhandled promise rejection");
		return;
	case XS_STACK_OVERFLOW_EXIT: why = "stack overflow"; break;
	case XS_NOT_ENOUGH_MEMORY_EXIT:
		/*
		 * After a full collection (and compaction) the engine found no room. Every allocation point
		 * of XS may run the collector, so the heap is consistent for marking here, and what the
		 * engine was building is either unreachable or complete; the engine's own exceptions leave
		 * from the same kind of points. Throwing needs no memory: the error was made beforehand.
		 * Without an enclosing jump (a promise job run outside a host call) it stays fatal.
		 */
		if (sim_memory_armed && the->firstJump) {
			sim_memory_exhausted++;
			fprintf(stderr, "wim-sim: memory full (%ld slots, %ld chunk bytes in use): thrown as RangeError\n",
					(long)the->currentHeapCount, (long)the->currentChunksSize);
			mxException = sim_memory_error;
			fxJump(the);
		}
		why = "memory full";
		break;
	case XS_NO_MORE_KEYS_EXIT: why = "not enough keys"; break;
	case XS_DEAD_STRIP_EXIT: why = "dead strip"; break;
	case XS_FATAL_CHECK_EXIT: why = "fatal check failed"; break;
	case XS_TOO_MUCH_COMPUTATION_EXIT: why = "too much computation"; break;
	case XS_DEBUGGER_EXIT: why = "debugger exit"; break;
	default: why = "unknown abort"; break;
	}
	the->abortStatus = status;
	fprintf(stderr, "wim-sim: fatal: %s (XS abort %d)\n", why, status);
	sim_finish(SIM_EXIT_FATAL);
}

/* ---- the bundle ---- */

typedef struct {
	const unsigned char *bytes;
	size_t offset;
	size_t size;
} sim_source;

/* Unsigned bytes: the engine's own C-string getter sign-extends, which turns 0xFF into EOF. */
static int sim_source_getter(void *stream)
{
	sim_source *source = stream;
	if (source->offset >= source->size)
		return C_EOF;
	return source->bytes[source->offset++];
}

static void sim_report_parser_error(void *console, txString path, txInteger line, txString format, c_va_list arguments)
{
	(void)console;
	fprintf(stderr, "%s:%d: syntax error: ", path ? path : "?", (int)line);
	vfprintf(stderr, format, arguments);
	fputc('\n', stderr);
}

static unsigned char *read_file(const char *path, size_t *size)
{
	FILE *file = fopen(path, "rb");
	unsigned char *bytes = NULL;
	long length;
	if (!file)
		return NULL;
	if (fseek(file, 0, SEEK_END) == 0 && (length = ftell(file)) >= 0 && fseek(file, 0, SEEK_SET) == 0) {
		bytes = malloc((size_t)length + 1);
		if (bytes && fread(bytes, 1, (size_t)length, file) == (size_t)length)
			*size = (size_t)length;
		else {
			free(bytes);
			bytes = NULL;
		}
	}
	fclose(file);
	return bytes;
}

static txScript *parse_program(txMachine *the, const char *path, const unsigned char *bytes, size_t size)
{
	txParser parser_record;
	txParser *parser = &parser_record;
	txParserJump jump;
	txScript *volatile script = C_NULL;
	sim_source source = { bytes, 0, size };
	fxInitializeParser(parser, the, the->parserBufferSize, the->parserTableModulo);
	parser->firstJump = &jump;
	parser->reportError = sim_report_parser_error;
	if (c_setjmp(jump.jmp_buf) == 0) {
		parser->path = fxNewParserSymbol(parser, (txString)path);
		fxParserTree(parser, &source, sim_source_getter, mxProgramFlag, C_NULL);
		fxParserHoist(parser);
		fxParserBind(parser);
		script = fxParserCode(parser);
	}
	fxTerminateParser(parser);
	return script;
}

int sim_run_source(txMachine *the, const char *name, const char *bytes, size_t size)
{
	txScript *script = parse_program(the, name, (const unsigned char *)bytes, size);
	int result = 0, vars;
	if (!script) {
		fprintf(stderr, "wim-sim: %s does not parse\n", name);
		return -1;
	}
	fxBeginHost(the);
	vars = fxIncrementalVars(the, 3);
	mxTry(the) {
		txSlot *realm = mxProgram.value.reference->next->value.module.realm;
		mxModuleInstanceInternal(mxProgram.value.reference)->value.module.id = fxID(the, (txString)name);
		fxRunScript(the, script, mxRealmGlobal(realm), C_NULL, mxRealmClosures(realm)->value.reference, C_NULL, mxProgram.value.reference);
		mxPullSlot(mxResult);
	}
	mxCatch(the) {
		if (!sim_memory_stopping)
			sim_report_exception(the, name, vars);
		sim_memory_stopping = 0;
		result = -1;
	}
	fxEndHost(the);
	return result;
}

int sim_run_program(txMachine *the, const char *path)
{
	size_t size = 0;
	unsigned char *bytes = read_file(path, &size);
	int result;
	if (!bytes) {
		fprintf(stderr, "wim-sim: cannot read %s: %s\n", path, strerror(errno));
		return -1;
	}
	result = sim_run_source(the, path, (const char *)bytes, size);
	free(bytes);
	return result;
}

void sim_run_jobs(txMachine *the)
{
	do {
		while (the->promiseJobs) {
			the->promiseJobs = 0;
			fxRunPromiseJobs(the);
		}
		fxEndJob(the);
	} while (the->promiseJobs);
}

/* Rejections still unhandled (XS reports one earlier only when its promise is collected). */
void sim_report_unhandled_rejections(txMachine *the)
{
	fxCheckUnhandledRejections(the, 1);
}

/* ---- crypto.getRandomValues(typedArray) ---- */

void sim_get_random_values(txMachine *the)
{
	txSlot *internal, *view, *buffer, *data;
	txTypeDispatch *dispatch;
	txInteger size;
	txByte *address;
	if (mxArgc < 1 || mxArgv(0)->kind != XS_REFERENCE_KIND)
		mxTypeError("getRandomValues: argument is not an integer typed array");
	internal = mxArgv(0)->value.reference->next;
	if (!internal || !(internal->flag & XS_INTERNAL_FLAG) || internal->kind != XS_TYPED_ARRAY_KIND)
		mxTypeError("getRandomValues: argument is not an integer typed array");
	dispatch = internal->value.typedArray.dispatch;
	if (dispatch->constructorID == mxID(_Float32Array) || dispatch->constructorID == mxID(_Float64Array))
		mxTypeError("getRandomValues: argument is not an integer typed array");
	view = internal->next;
	buffer = view->next;
	data = buffer->value.reference->next;
	size = fxGetDataViewSize(the, view, buffer);
	if (size > 65536)
		mxRangeError("QuotaExceededError: getRandomValues: more than 65536 bytes requested");
	if (data->flag & XS_DONT_SET_FLAG)
		mxTypeError("getRandomValues: read-only buffer");
	if (data->kind == XS_ARRAY_BUFFER_KIND)
		address = data->value.arrayBuffer.address;
	else if (data->kind == XS_HOST_KIND)
		address = data->value.host.data;
	else
		address = C_NULL;
	if (size > 0) {
		if (!address)
			mxTypeError("getRandomValues: detached buffer");
		if (sim_random_fill(address + view->value.dataView.offset, (size_t)size) != 0)
			mxUnknownError("getRandomValues: the OS random source failed");
	}
	mxResult->kind = mxArgv(0)->kind;
	mxResult->value = mxArgv(0)->value;
}
